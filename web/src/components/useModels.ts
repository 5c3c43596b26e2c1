// Every installed model (all types), for the Generate screen's LoRA, embedding, adapter and FLUX encoder pickers;
// refreshed when an install finishes. The app store keeps only main models.
import { useEffect, useState } from 'react';
import { api } from '../lib/api';
import { subscribe } from '../lib/socket';
import type { ModelConfig } from '../lib/types';

export function useAllModels(): ModelConfig[] {
  const [models, setModels] = useState<ModelConfig[]>([]);
  useEffect(() => {
    let alive = true;
    const load = () =>
      api<{ models: ModelConfig[] }>('/api/v2/models/')
        .then((r) => alive && setModels(Array.isArray(r?.models) ? r.models : []))
        .catch(() => alive && setModels([]));
    load();
    const off = subscribe('model_install_complete', () => load());
    return () => {
      alive = false;
      off();
    };
  }, []);
  return models;
}

export function ofType(models: ModelConfig[], types: string[], base?: string): ModelConfig[] {
  return models.filter((m) => types.includes(m.type) && (base === undefined || m.base === base));
}
