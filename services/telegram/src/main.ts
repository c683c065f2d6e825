import { runChannelStandalone } from '@switchboard/channels';
import { loadTelegramConfig, startTelegramService } from './service.ts';

await runChannelStandalone({ name: 'telegram', config: loadTelegramConfig(), start: startTelegramService });
