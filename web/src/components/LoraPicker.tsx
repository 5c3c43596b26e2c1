// The LoRA picker of the Generate screen: search the installed LoRAs of the current model's base, add several, each
// with a weight slider and an enable toggle.
import { useState } from 'react';
import { useApp } from '../lib/store';
import { entryId } from '../lib/graphAdapters';
import type { ModelConfig } from '../lib/types';
import { ofType } from './useModels';

/** A LoRA's own default weight (its model settings), else InvokeAI's 0.75. */
export function defaultWeight(m: ModelConfig): number {
  const w = (m.default_settings as { weight?: unknown } | null | undefined)?.weight;
  return typeof w === 'number' && Number.isFinite(w) ? w : 0.75;
}

export function LoraPicker({ models }: { models: ModelConfig[] }) {
  const { params: p, setParams } = useApp();
  const [query, setQuery] = useState('');
  const base = p.model?.base;
  const added = new Set(p.loras.map((l) => l.model.key));
  const q = query.trim().toLowerCase();
  const available = ofType(models, ['lora'], base).filter((m) => !added.has(m.key) && (!q || m.name.toLowerCase().includes(q)));
  const update = (id: string, over: Partial<(typeof p.loras)[number]>) => setParams({ loras: p.loras.map((l) => (l.id === id ? { ...l, ...over } : l)) });

  return (
    <details className="gx-section" open={p.loras.length > 0 || undefined} data-testid="lora-picker">
      <summary>LoRAs{p.loras.length ? ` (${p.loras.filter((l) => l.isEnabled).length})` : ''}</summary>
      <label className="field">
        <span>Search LoRAs</span>
        <input type="search" value={query} onChange={(e) => setQuery(e.target.value)} placeholder={`LoRAs for ${base ?? 'this model'}`} />
      </label>
      {available.length > 0 ? (
        <ul className="gx-choices" aria-label="Available LoRAs">
          {available.slice(0, 20).map((m) => (
            <li key={m.key}>
              <button
                type="button"
                className="btn small"
                aria-label={`Add LoRA ${m.name}`}
                onClick={() => setParams({ loras: [...p.loras, { id: entryId(), model: m, weight: defaultWeight(m), isEnabled: true }] })}
              >
                + {m.name}
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted small">{q ? 'No LoRA matches.' : `No more LoRAs installed for ${base ?? 'this base'}.`}</p>
      )}
      {p.loras.map((l) => {
        const fits = l.model.base === base;
        return (
          <div key={l.id} className={`gx-item${fits ? '' : ' gx-off'}`} data-testid="lora-item" data-lora-name={l.model.name}>
            <div className="gx-item-head">
              <label className="check">
                <input type="checkbox" checked={l.isEnabled} aria-label={`Enable LoRA ${l.model.name}`} onChange={(e) => update(l.id, { isEnabled: e.target.checked })} />
                <strong>{l.model.name}</strong>
              </label>
              {!fits && <span className="muted small">({l.model.base}: not used with this model)</span>}
              <button type="button" className="btn small" aria-label={`Remove LoRA ${l.model.name}`} onClick={() => setParams({ loras: p.loras.filter((x) => x.id !== l.id) })}>
                ✕
              </button>
            </div>
            <div className="gx-slider">
              {/* In hundredths: whole-number steps never fail the form's step validation. */}
              <input
                type="range"
                min={-100}
                max={200}
                step={5}
                value={Math.round(l.weight * 100)}
                aria-label={`LoRA weight ${l.model.name}`}
                onChange={(e) => update(l.id, { weight: Number(e.target.value) / 100 })}
              />
              <output>{l.weight.toFixed(2)}</output>
            </div>
          </div>
        );
      })}
    </details>
  );
}
