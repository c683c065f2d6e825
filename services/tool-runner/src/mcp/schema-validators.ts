import type { JsonSchemaType, JsonSchemaValidator, jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';

/**
 * Compiles an MCP server's JSON Schemas (tool inputs, and the Client's check of tool results
 * against their `outputSchema`). The SDK's validator reuses the schema it compiled first under an
 * `$id`: shared, a schema with the `$id` of another (another tool's, or its own earlier one) would
 * be checked against that other schema. Such a schema gets an instance of its own. A schema Ajv
 * cannot compile is not checked (the server checks it), rather than refusing the tool or, for an
 * output schema, failing `tools/list` and so the whole server. Ajv keeps every schema it compiled:
 * make one per build of a server's tools, to go with them.
 */
export function mcpSchemaValidators(): jsonSchemaValidator {
  const shared = new AjvJsonSchemaValidator();
  return {
    getValidator<T>(schema: JsonSchemaType): JsonSchemaValidator<T> {
      try {
        return (JSON.stringify(schema).includes('"$id"') ? new AjvJsonSchemaValidator() : shared).getValidator<T>(schema);
      } catch {
        return (input) => ({ valid: true, data: input as T, errorMessage: undefined });
      }
    },
  };
}
