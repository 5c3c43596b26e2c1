// The Control (ControlNet / T2I-Adapter) and IP-Adapter panels of the Generate screen: model, weight, begin/end step %,
// control and resize modes, an image from the gallery or an upload, and a processor whose output is previewed (it runs
// as a processor node through the queue; see processor.ts).
import { useEffect, useRef, useState } from 'react';
import { errorText, mediaUrl } from '../lib/api';
import { useApp } from '../lib/store';
import {
  CLIP_VISION_MODELS,
  CONTROL_MODES,
  IP_METHODS,
  newControl,
  newIPAdapter,
  PROCESSOR_DEFAULTS,
  PROCESSORS,
  RESIZE_MODES,
  type ControlEntry,
  type IPAdapterEntry,
  type Processor,
  type ProcessorSettings,
} from '../lib/graphAdapters';
import type { ModelConfig } from '../lib/types';
import { ImageChooser } from './ImageChooser';
import { runProcessor } from './processor';
import { ofType } from './useModels';

const pct = (x: number) => Math.round(x * 100);
const clamp01 = (x: number) => Math.max(0, Math.min(1, x));

function num(v: string, fallback: number) {
  const n = Number(v);
  return Number.isFinite(n) ? n : fallback;
}

function ModelSelect({ label, models, value, onChange }: { label: string; models: ModelConfig[]; value: ModelConfig | null; onChange: (m: ModelConfig | null) => void }) {
  return (
    <label className="field">
      <span>{label}</span>
      <select value={value?.key ?? ''} onChange={(e) => onChange(models.find((m) => m.key === e.target.value) ?? null)}>
        {!value && <option value="">(choose a model)</option>}
        {value && !models.some((m) => m.key === value.key) && <option value={value.key}>{value.name} (not installed for this base)</option>}
        {models.map((m) => (
          <option key={m.key} value={m.key}>
            {m.name}
            {m.type === 't2i_adapter' ? ' (T2I-Adapter)' : ''}
          </option>
        ))}
      </select>
    </label>
  );
}

function StepRange({ begin, end, onChange }: { begin: number; end: number; onChange: (b: number, e: number) => void }) {
  return (
    <div className="grid2">
      <label className="field">
        <span>Begin %</span>
        <input type="number" min={0} max={100} step={1} value={pct(begin)} onChange={(e) => onChange(clamp01(num(e.target.value, pct(begin)) / 100), end)} />
      </label>
      <label className="field">
        <span>End %</span>
        <input type="number" min={0} max={100} step={1} value={pct(end)} onChange={(e) => onChange(begin, clamp01(num(e.target.value, pct(end)) / 100))} />
      </label>
    </div>
  );
}

function Weight({ value, onChange, min = 0, max = 2 }: { value: number; onChange: (w: number) => void; min?: number; max?: number }) {
  return (
    <label className="field">
      <span>Weight</span>
      <div className="gx-slider">
        {/* In hundredths: whole-number steps never fail the form's step validation. */}
        <input type="range" min={min * 100} max={max * 100} step={5} value={Math.round(value * 100)} aria-label="Weight" onChange={(e) => onChange(num(e.target.value, value * 100) / 100)} />
        <output>{value.toFixed(2)}</output>
      </div>
    </label>
  );
}

function ControlLayer({ entry, index, models }: { entry: ControlEntry; index: number; models: ModelConfig[] }) {
  const { params: p, setParams } = useApp();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const latest = useRef(p.controls);
  latest.current = p.controls;
  const update = (over: Partial<ControlEntry>) => setParams({ controls: latest.current.map((c) => (c.id === entry.id ? { ...c, ...over } : c)) });

  // Process the image whenever it, the processor or its settings change (settings typed in quick succession run once);
  // a finished run lands only if the inputs are still the same.
  const imageName = entry.image?.image_name;
  const settingsKey = JSON.stringify(entry.processorSettings ?? {});
  useEffect(() => {
    if (!entry.image || entry.processor === 'none' || entry.processedImage) return;
    const ctrl = new AbortController();
    const image = entry.image;
    const wantProc = entry.processor;
    const same = (c: ControlEntry | undefined) =>
      !!c && c.image?.image_name === image.image_name && c.processor === wantProc && JSON.stringify(c.processorSettings ?? {}) === settingsKey;
    setBusy(true);
    setError('');
    const timer = setTimeout(() => {
      runProcessor(wantProc, image, entry.processorSettings, ctrl.signal)
        .then((out) => {
          if (same(latest.current.find((c) => c.id === entry.id))) {
            setParams({ controls: latest.current.map((c) => (c.id === entry.id ? { ...c, processedImage: out } : c)) });
          }
        })
        .catch((e) => !ctrl.signal.aborted && setError(errorText(e)))
        .finally(() => !ctrl.signal.aborted && setBusy(false));
    }, 300);
    return () => {
      clearTimeout(timer);
      ctrl.abort();
    };
  }, [imageName, entry.processor, settingsKey, !!entry.processedImage]); // eslint-disable-line react-hooks/exhaustive-deps

  const settings = { ...PROCESSOR_DEFAULTS, ...entry.processorSettings };
  const setSetting = (k: keyof ProcessorSettings, v: number | string) => update({ processorSettings: { ...entry.processorSettings, [k]: v }, processedImage: null });
  const numField = (label: string, k: keyof ProcessorSettings, min: number, max: number) => (
    <label className="field" key={k}>
      <span>{label}</span>
      <input type="number" min={min} max={max} step={1} value={settings[k] as number} onChange={(e) => setSetting(k, Math.max(min, Math.min(max, Math.round(num(e.target.value, settings[k] as number)))))} />
    </label>
  );

  const isT2I = entry.model?.type === 't2i_adapter';
  const title = `Control ${index + 1}`;
  return (
    <div className="gx-item" data-testid="control-layer" aria-label={title} role="group">
      <div className="gx-item-head">
        <label className="check">
          <input type="checkbox" checked={entry.isEnabled} aria-label={`Enable ${title}`} onChange={(e) => update({ isEnabled: e.target.checked })} />
          <strong>{title}</strong>
        </label>
        <button type="button" className="btn small" aria-label={`Remove ${title}`} onClick={() => setParams({ controls: latest.current.filter((c) => c.id !== entry.id) })}>
          ✕
        </button>
      </div>
      <ModelSelect label="Control Model" models={models} value={entry.model} onChange={(m) => update({ model: m })} />
      <Weight value={entry.weight} onChange={(w) => update({ weight: w })} />
      <StepRange begin={entry.beginStepPct} end={entry.endStepPct} onChange={(b, e) => update({ beginStepPct: b, endStepPct: e })} />
      <div className="grid2">
        {!isT2I && (
          <label className="field">
            <span>Control Mode</span>
            <select value={entry.controlMode} onChange={(e) => update({ controlMode: e.target.value as ControlEntry['controlMode'] })}>
              {CONTROL_MODES.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </select>
          </label>
        )}
        <label className="field">
          <span>Resize Mode</span>
          <select value={entry.resizeMode} onChange={(e) => update({ resizeMode: e.target.value as ControlEntry['resizeMode'] })}>
            {RESIZE_MODES.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ImageChooser label="Control Image" image={entry.image} onChange={(im) => update({ image: im, processedImage: null })} />
      <label className="field">
        <span>Processor</span>
        <select value={entry.processor} onChange={(e) => update({ processor: e.target.value as Processor, processedImage: null })}>
          {PROCESSORS.map((pr) => (
            <option key={pr.value} value={pr.value}>
              {pr.label}
            </option>
          ))}
        </select>
      </label>
      {entry.processor === 'canny_edge_detection' && (
        <div className="grid2">
          {numField('Low Threshold', 'low_threshold', 0, 255)}
          {numField('High Threshold', 'high_threshold', 0, 255)}
        </div>
      )}
      {entry.processor === 'content_shuffle' && numField('Scale Factor', 'scale_factor', 0, 4096)}
      {entry.processor === 'color_map' && numField('Tile Size', 'tile_size', 1, 256)}
      {entry.processor === 'tile' && numField('Down Sampling Rate', 'down_sampling_rate', 1, 16)}
      {entry.processor === 'img_blur' && (
        <div className="grid2">
          {numField('Radius', 'radius', 0, 100)}
          <label className="field">
            <span>Blur Type</span>
            <select value={settings.blur_type} onChange={(e) => setSetting('blur_type', e.target.value)}>
              <option value="gaussian">gaussian</option>
              <option value="box">box</option>
            </select>
          </label>
        </div>
      )}
      {busy && <p className="muted small">Processing…</p>}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {entry.processedImage && (
        <figure className="gx-preview">
          <img src={mediaUrl(`api/v1/images/i/${entry.processedImage.image_name}/full`)} alt="Processed control image" data-testid="processed-preview" />
          <figcaption className="muted small">Processed image</figcaption>
        </figure>
      )}
    </div>
  );
}

function IPAdapterLayer({ entry, index, models }: { entry: IPAdapterEntry; index: number; models: ModelConfig[] }) {
  const { params: p, setParams } = useApp();
  const update = (over: Partial<IPAdapterEntry>) => setParams({ ipAdapters: p.ipAdapters.map((c) => (c.id === entry.id ? { ...c, ...over } : c)) });
  const title = `IP-Adapter ${index + 1}`;
  return (
    <div className="gx-item" data-testid="ip-adapter-layer" aria-label={title} role="group">
      <div className="gx-item-head">
        <label className="check">
          <input type="checkbox" checked={entry.isEnabled} aria-label={`Enable ${title}`} onChange={(e) => update({ isEnabled: e.target.checked })} />
          <strong>{title}</strong>
        </label>
        <button type="button" className="btn small" aria-label={`Remove ${title}`} onClick={() => setParams({ ipAdapters: p.ipAdapters.filter((c) => c.id !== entry.id) })}>
          ✕
        </button>
      </div>
      <ModelSelect label="IP-Adapter Model" models={models} value={entry.model} onChange={(m) => update({ model: m })} />
      <Weight value={entry.weight} min={-1} max={2} onChange={(w) => update({ weight: w })} />
      <StepRange begin={entry.beginStepPct} end={entry.endStepPct} onChange={(b, e) => update({ beginStepPct: b, endStepPct: e })} />
      <div className="grid2">
        <label className="field">
          <span>Method</span>
          <select value={entry.method} onChange={(e) => update({ method: e.target.value as IPAdapterEntry['method'] })}>
            {IP_METHODS.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>CLIP Vision</span>
          <select value={entry.clipVisionModel} onChange={(e) => update({ clipVisionModel: e.target.value as IPAdapterEntry['clipVisionModel'] })}>
            {CLIP_VISION_MODELS.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ImageChooser label="Reference Image" image={entry.image} onChange={(im) => update({ image: im })} />
    </div>
  );
}

export function ControlAdapters({ models }: { models: ModelConfig[] }) {
  const { params: p, setParams } = useApp();
  const base = p.model?.base;
  const controlModels = ofType(models, ['controlnet', 't2i_adapter'], base);
  const ipModels = ofType(models, ['ip_adapter'], base);
  return (
    <>
      <details className="gx-section" open={p.controls.length > 0 || undefined} data-testid="control-panel">
        <summary>Control{p.controls.length ? ` (${p.controls.length})` : ''}</summary>
        {p.controls.map((c, i) => (
          <ControlLayer key={c.id} entry={c} index={i} models={controlModels} />
        ))}
        {controlModels.length === 0 && <p className="muted small">No ControlNet or T2I-Adapter installed for {base ?? 'this base'}.</p>}
        <button type="button" className="btn small" disabled={controlModels.length === 0} onClick={() => setParams({ controls: [...p.controls, newControl(controlModels[0] ?? null)] })}>
          Add Control
        </button>
      </details>
      <details className="gx-section" open={p.ipAdapters.length > 0 || undefined} data-testid="ip-adapter-panel">
        <summary>IP-Adapter{p.ipAdapters.length ? ` (${p.ipAdapters.length})` : ''}</summary>
        {p.ipAdapters.map((c, i) => (
          <IPAdapterLayer key={c.id} entry={c} index={i} models={ipModels} />
        ))}
        {ipModels.length === 0 && <p className="muted small">No IP-Adapter installed for {base ?? 'this base'}.</p>}
        <button type="button" className="btn small" disabled={ipModels.length === 0} onClick={() => setParams({ ipAdapters: [...p.ipAdapters, newIPAdapter(ipModels[0] ?? null)] })}>
          Add IP-Adapter
        </button>
      </details>
    </>
  );
}
