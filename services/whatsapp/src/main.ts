import { runChannelStandalone } from '@switchboard/channels';
import { configOrExit } from '@switchboard/observability';
import { loadWhatsAppConfig, startWhatsAppService } from './service.ts';

await runChannelStandalone({ name: 'whatsapp', config: configOrExit('whatsapp', loadWhatsAppConfig), start: startWhatsAppService });
