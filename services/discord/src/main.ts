import { runChannelStandalone } from '@switchboard/channels';
import { loadDiscordConfig, startDiscordService } from './service.ts';

await runChannelStandalone({ name: 'discord', config: loadDiscordConfig(), start: startDiscordService });
