import { describe, expect, it } from 'vitest';
import { loadCommonConfig } from './common.ts';

describe('loadCommonConfig', () => {
  it('refuses a URL variable that is no URL of its kind, naming it without echoing the value', () => {
    const bad: Array<[string, string]> = [
      ['REDIS_URL', 'notaurl-with-secret'],
      ['REDIS_URL', 'http://redis:6379'],
      ['DATABASE_URL', 'mysql://u:secret-pw@db/app'],
      ['DATABASE_URL', 'postgres-at-localhost'],
      ['OPENAI_BASE_URL', 'api.openai.com/v1'],
      ['EMBEDDING_BASE_URL', 'ftp://models.example/v1'],
    ];
    for (const [name, value] of bad) {
      let message = '';
      try {
        loadCommonConfig({ [name]: value });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, `${name}=${value}`).toMatch(new RegExp(`^invalid configuration: ${name}: must be a `));
      expect(message).not.toContain(value);
      expect(message).not.toContain('secret');
    }
  });

  it('accepts the URLs each variable takes, a Redis socket path, and unset ones', () => {
    const config = loadCommonConfig({
      REDIS_URL: 'rediss://:pw@redis.example:6380/0',
      DATABASE_URL: 'postgresql://u:p@db.example:5432/app?sslmode=require',
      OPENAI_BASE_URL: 'http://127.0.0.1:8000/v1',
      EMBEDDING_BASE_URL: ' https://api.example/v1 ',
    });
    expect(config.EMBEDDING_BASE_URL).toBe('https://api.example/v1');
    expect(loadCommonConfig({ REDIS_URL: '/run/redis/redis.sock' }).REDIS_URL).toBe('/run/redis/redis.sock');
    expect(loadCommonConfig({ REDIS_URL: '', DATABASE_URL: '  ' })).toMatchObject({ REDIS_URL: undefined, DATABASE_URL: undefined });
  });
});
