import { runChannelStandalone } from '@switchboard/channels';
import { configOrExit } from '@switchboard/observability';
import { loadDiscordConfig, startDiscordService } from './service.ts';

await runChannelStandalone({ name: 'discord', config: configOrExit('discord', loadDiscordConfig), start: startDiscordService });
