import { runChannelStandalone } from '@switchboard/channels';
import { loadWhatsAppConfig, startWhatsAppService } from './service.ts';

await runChannelStandalone({ name: 'whatsapp', config: loadWhatsAppConfig(), start: startWhatsAppService });
