import { runChannelStandalone } from '@switchboard/channels';
import { configOrExit } from '@switchboard/observability';
import { loadSlackConfig, startSlackService } from './service.ts';

await runChannelStandalone({ name: 'slack', config: configOrExit('slack', loadSlackConfig), start: startSlackService, describe: (s) => ({ mode: s.mode }) });
