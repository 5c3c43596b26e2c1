// The embeddings (textual inversion) picker: inserts <name> into the positive or the negative prompt, the syntax
// InvokeAI's prompt parser reads.
import { useState } from 'react';
import { useApp } from '../lib/store';
import type { ModelConfig } from '../lib/types';
import { ofType } from './useModels';

export function insertEmbedding(prompt: string, name: string): string {
  const tag = `<${name}>`;
  if (!prompt) return tag;
  return /\s$/.test(prompt) ? prompt + tag : `${prompt} ${tag}`;
}

export function EmbeddingPicker({ models }: { models: ModelConfig[] }) {
  const { params: p, setParams } = useApp();
  const embeddings = ofType(models, ['embedding'], p.model?.base);
  const [choice, setChoice] = useState('');
  const chosen = embeddings.find((m) => m.key === choice) ?? embeddings[0];
  return (
    <details className="gx-section" data-testid="embedding-picker">
      <summary>Embeddings</summary>
      {embeddings.length === 0 ? (
        <p className="muted small">No embeddings installed for {p.model?.base ?? 'this base'}.</p>
      ) : (
        <>
          <label className="field">
            <span>Embedding</span>
            <select value={chosen?.key ?? ''} onChange={(e) => setChoice(e.target.value)}>
              {embeddings.map((m) => (
                <option key={m.key} value={m.key}>
                  {m.name}
                </option>
              ))}
            </select>
          </label>
          <div className="row gx-buttons">
            <button type="button" className="btn small" disabled={!chosen} onClick={() => chosen && setParams({ positivePrompt: insertEmbedding(p.positivePrompt, chosen.name) })}>
              Add to Prompt
            </button>
            <button type="button" className="btn small" disabled={!chosen} onClick={() => chosen && setParams({ negativePrompt: insertEmbedding(p.negativePrompt, chosen.name) })}>
              Add to Negative Prompt
            </button>
          </div>
        </>
      )}
    </details>
  );
}
