import { runChannelStandalone } from '@switchboard/channels';
import { loadSlackConfig, startSlackService } from './service.ts';

await runChannelStandalone({ name: 'slack', config: loadSlackConfig(), start: startSlackService, describe: (s) => ({ mode: s.mode }) });
