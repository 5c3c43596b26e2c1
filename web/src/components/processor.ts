// Runs a control image through a processor node on the queue and returns the processed image.
import { api } from '../lib/api';
import { buildProcessorGraph, type ImageRef, type Processor, type ProcessorSettings } from '../lib/graphAdapters';

interface SessionItem {
  status: string;
  error_message?: string | null;
  error_type?: string | null;
  session?: {
    source_prepared_mapping?: Record<string, string[]>;
    results?: Record<string, { image?: { image_name: string }; width?: number; height?: number }>;
  };
}

export async function runProcessor(
  processor: Exclude<Processor, 'none'>,
  image: ImageRef,
  settings: Partial<ProcessorSettings> | undefined,
  signal?: AbortSignal,
): Promise<ImageRef> {
  const graph = buildProcessorGraph(processor, image, settings);
  const res = await api<{ item_ids?: number[] }>('/api/v1/queue/default/enqueue_batch', {
    json: { prepend: true, batch: { graph, runs: 1, origin: 'control_processor', destination: 'control_processor' } },
    signal,
  });
  const id = res.item_ids?.[0];
  if (id === undefined) throw new Error('The processor was not enqueued');
  for (let delay = 100; ; delay = Math.min(1000, delay * 1.5)) {
    await new Promise((r) => setTimeout(r, delay));
    if (signal?.aborted) throw new Error('cancelled');
    const it = await api<SessionItem>(`/api/v1/queue/default/i/${id}`, { signal });
    if (it.status === 'failed' || it.status === 'canceled') {
      throw new Error(`Processor ${it.status}: ${it.error_message || it.error_type || 'unknown error'}`);
    }
    if (it.status !== 'completed') continue;
    const prepared = it.session?.source_prepared_mapping?.processor?.[0];
    const out = prepared ? it.session?.results?.[prepared] : undefined;
    if (!out?.image) throw new Error('The processor returned no image');
    return { image_name: out.image.image_name, width: out.width, height: out.height };
  }
}
