import { runChannelStandalone } from '@switchboard/channels';
import { configOrExit } from '@switchboard/observability';
import { loadTelegramConfig, startTelegramService } from './service.ts';

await runChannelStandalone({ name: 'telegram', config: configOrExit('telegram', loadTelegramConfig), start: startTelegramService });
