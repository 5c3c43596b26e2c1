// Workflow library and node editor (React Flow); loaded on demand.
import { useCallback, useEffect, useMemo, useRef, useState, type ChangeEvent } from 'react';
import {
  ReactFlow,
  ReactFlowProvider,
  Background,
  Controls,
  Handle,
  Position,
  addEdge,
  useEdgesState,
  useNodesState,
  useReactFlow,
  type Connection,
  type Edge,
  type Node,
  type NodeProps,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { Icon } from '../components/Icon';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { api, errorText } from '../lib/api';
import { useApp } from '../lib/store';
import { emptyWorkflow, nodeFromTemplate, parseTemplates, parseWorkflowFile, typesCompatible, workflowToGraph, type NodeTemplate } from '../lib/templates';
import type { Workflow, WorkflowListItem, WorkflowNode, WorkflowRecord } from '../lib/types';

let templatesCache: Promise<Record<string, NodeTemplate>> | null = null;
function loadTemplates(): Promise<Record<string, NodeTemplate>> {
  if (!templatesCache) {
    templatesCache = fetch('/openapi.json')
      .then((r) => r.json())
      .then(parseTemplates)
      .catch((e) => {
        templatesCache = null;
        throw e;
      });
  }
  return templatesCache;
}

interface Open {
  record: WorkflowRecord | null; // null: not saved yet
  workflow: Workflow;
}

export default function WorkflowsScreen() {
  const [open, setOpen] = useState<Open | null>(null);
  const [templates, setTemplates] = useState<Record<string, NodeTemplate>>({});
  const [version, setVersion] = useState(0);
  useEffect(() => {
    loadTemplates().then(setTemplates, () => setTemplates({}));
  }, []);
  return (
    <div className="workflows">
      <Library onOpen={setOpen} version={version} current={open?.record?.workflow_id} />
      {open ? (
        <ReactFlowProvider>
          <Editor
            key={(open.record?.workflow_id ?? 'new') + ':' + (open.record?.updated_at ?? '')}
            open={open}
            templates={templates}
            onSaved={(o) => {
              setOpen(o);
              setVersion((v) => v + 1);
            }}
            onClosed={() => {
              setOpen(null);
              setVersion((v) => v + 1);
            }}
          />
        </ReactFlowProvider>
      ) : (
        <section className="panel editor-empty">
          <p className="muted">Open a workflow from the library, import one, or start a new one.</p>
          <button type="button" className="btn primary" onClick={() => setOpen({ record: null, workflow: emptyWorkflow() })}>
            New Workflow
          </button>
        </section>
      )}
    </div>
  );
}

function DeleteWorkflowDialog({ name, onCancel, onDelete }: { name: string; onCancel: () => void; onDelete: () => void }) {
  return <ConfirmDialog title={`Delete workflow “${name}”?`} onCancel={onCancel} actions={[{ label: 'Delete', onConfirm: onDelete }]} />;
}

function Library({ onOpen, version, current }: { onOpen: (o: Open) => void; version: number; current?: string }) {
  const app = useApp();
  const me = app.user!;
  const [mine, setMine] = useState<WorkflowListItem[]>([]);
  const [shared, setShared] = useState<WorkflowListItem[]>([]);
  const [defaults, setDefaults] = useState<WorkflowListItem[]>([]);
  const [error, setError] = useState('');
  const [query, setQuery] = useState('');
  const [deleting, setDeleting] = useState<WorkflowListItem | null>(null);

  const load = useCallback(async () => {
    try {
      type List = { items: WorkflowListItem[] };
      const [u, s, d] = await Promise.all([
        api<List>('/api/v1/workflows/', { query: { categories: ['user'], order_by: 'name', direction: 'ASC' } }),
        api<List>('/api/v1/workflows/', { query: { is_public: true, order_by: 'name', direction: 'ASC' } }),
        api<List>('/api/v1/workflows/', { query: { categories: ['default'], order_by: 'name', direction: 'ASC' } }),
      ]);
      setMine(u.items.filter((w) => w.category === 'user' && w.user_id === me.user_id));
      setShared(s.items.filter((w) => w.category === 'user' && w.user_id !== me.user_id));
      setDefaults(d.items.filter((w) => w.category === 'default'));
      setError('');
    } catch (e) {
      setError(errorText(e));
    }
  }, [me.user_id]);

  useEffect(() => {
    load();
  }, [load, version]);

  const openWf = async (id: string) => {
    try {
      const rec = await api<WorkflowRecord>(`/api/v1/workflows/i/${id}`);
      onOpen({ record: rec, workflow: rec.workflow });
      // Only an owner (or an admin) may touch a workflow's record; others would get a 403.
      const mayWrite = rec.workflow.meta?.category !== 'default' && (rec.user_id === me.user_id || me.is_admin);
      if (mayWrite) api(`/api/v1/workflows/i/${id}/opened_at`, { method: 'PUT' }).catch(() => undefined);
    } catch (e) {
      app.toast(errorText(e), 'error');
    }
  };

  const del = async (w: WorkflowListItem) => {
    setDeleting(null);
    try {
      await api(`/api/v1/workflows/i/${w.workflow_id}`, { method: 'DELETE' });
      await load();
    } catch (e) {
      app.toast(errorText(e), 'error');
    }
  };

  const importFile = async (e: ChangeEvent<HTMLInputElement>) => {
    const f = e.target.files?.[0];
    e.target.value = '';
    if (!f) return;
    try {
      const wf = parseWorkflowFile(await f.text());
      const rec = await api<WorkflowRecord>('/api/v1/workflows/', { json: { workflow: wf } });
      app.toast(`Imported “${rec.name}”`, 'success');
      await load();
      onOpen({ record: rec, workflow: rec.workflow });
    } catch (err) {
      app.toast(`Import failed: ${errorText(err)}`, 'error');
    }
  };

  const filt = (l: WorkflowListItem[]) => (query ? l.filter((w) => w.name.toLowerCase().includes(query.toLowerCase())) : l);

  const section = (title: string, testid: string, list: WorkflowListItem[], ownerActions: boolean) => (
    <section aria-label={title}>
      <h3 className="section-title">{title}</h3>
      <ul className="wf-list" data-testid={testid}>
        {filt(list).map((w) => (
          <li key={w.workflow_id} className={`wf-item${current === w.workflow_id ? ' selected' : ''}`} data-testid="workflow-item" data-workflow-name={w.name}>
            <button type="button" className="wf-open" onClick={() => openWf(w.workflow_id)} aria-label={`Open ${w.name}`}>
              <span className="wf-name">{w.name}</span>
              {w.is_public && w.category === 'user' && <span className="badge vis-shared">Shared</span>}
              {w.description && <span className="muted small ellipsis">{w.description}</span>}
            </button>
            {ownerActions && (
              <button type="button" className="icon-btn" aria-label={`Delete ${w.name}`} onClick={() => setDeleting(w)}>
                <Icon name="trash" size={14} />
              </button>
            )}
          </li>
        ))}
        {filt(list).length === 0 && <li className="muted small">None</li>}
      </ul>
    </section>
  );

  return (
    <aside className="library panel" aria-label="Workflow library">
      <div className="panel-head wrap">
        <h2 className="panel-title">Workflows</h2>
        <div className="grow" />
        <button type="button" className="btn small" onClick={() => onOpen({ record: null, workflow: emptyWorkflow() })}>
          New
        </button>
        <label className="btn small file-btn">
          Import
          <input type="file" accept="application/json,.json" aria-label="Import workflow" onChange={importFile} />
        </label>
      </div>
      <input className="search" aria-label="Search workflows" placeholder="Search" value={query} onChange={(e) => setQuery(e.target.value)} />
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {section('Your workflows', 'your-workflows', mine, true)}
      {section('Shared workflows', 'shared-workflows', shared, !!me.is_admin)}
      {section('Default workflows', 'default-workflows', defaults, false)}
      {deleting && <DeleteWorkflowDialog name={deleting.name} onCancel={() => setDeleting(null)} onDelete={() => del(deleting)} />}
    </aside>
  );
}

type InvNodeData = WorkflowNode['data'] & { template?: NodeTemplate };
type InvNode = Node<InvNodeData, 'invocation'>;

function toFlow(wf: Workflow, templates: Record<string, NodeTemplate>): { nodes: InvNode[]; edges: Edge[] } {
  return {
    nodes: wf.nodes
      .filter((n) => n.type === 'invocation')
      .map((n) => ({ id: n.id, type: 'invocation' as const, position: n.position ?? { x: 0, y: 0 }, data: { ...n.data, template: templates[n.data.type] } })),
    edges: wf.edges.map((e) => ({ id: e.id, source: e.source, target: e.target, sourceHandle: e.sourceHandle, targetHandle: e.targetHandle })),
  };
}

function fromFlow(base: Workflow, nodes: InvNode[], edges: Edge[]): Workflow {
  return {
    ...base,
    nodes: nodes.map((n) => {
      const { template: _t, ...data } = n.data;
      return { id: n.id, type: 'invocation', position: { x: Math.round(n.position.x), y: Math.round(n.position.y) }, data: data as WorkflowNode['data'] };
    }),
    edges: edges.map((e) => ({
      id: e.id,
      type: 'default',
      source: e.source,
      target: e.target,
      sourceHandle: e.sourceHandle ?? '',
      targetHandle: e.targetHandle ?? '',
    })),
  };
}

function Editor({
  open,
  templates,
  onSaved,
  onClosed,
}: {
  open: Open;
  templates: Record<string, NodeTemplate>;
  onSaved: (o: Open) => void;
  onClosed: () => void;
}) {
  const app = useApp();
  const me = app.user!;
  const initial = useMemo(() => toFlow(open.workflow, templates), [open.workflow, templates]);
  const [nodes, setNodes, onNodesChange] = useNodesState<InvNode>(initial.nodes);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>(initial.edges);
  const [meta, setMeta] = useState<Workflow>(open.workflow);
  const [saveAs, setSaveAs] = useState(false);
  const [saveAsName, setSaveAsName] = useState('');
  const [addType, setAddType] = useState('');
  const [error, setError] = useState('');
  const [confirmDelete, setConfirmDelete] = useState(false);
  const rf = useReactFlow();

  useEffect(() => {
    // Templates may arrive after the workflow: attach them.
    setNodes((ns) => ns.map((n) => (n.data.template || !templates[n.data.type] ? n : { ...n, data: { ...n.data, template: templates[n.data.type] } })));
  }, [templates, setNodes]);

  const rec = open.record;
  const isDefault = rec?.workflow.meta?.category === 'default';
  const owner = !rec || (!isDefault && (rec.user_id === me.user_id || me.is_admin));
  const canSave = owner && !isDefault;

  const current = () => fromFlow(meta, nodes, edges);

  const save = async () => {
    setError('');
    try {
      if (!rec) {
        const r = await api<WorkflowRecord>('/api/v1/workflows/', { json: { workflow: current() } });
        onSaved({ record: r, workflow: r.workflow });
      } else {
        const wf = { ...current(), id: rec.workflow_id };
        const r = await api<WorkflowRecord>(`/api/v1/workflows/i/${rec.workflow_id}`, { method: 'PATCH', json: { workflow: wf } });
        onSaved({ record: { ...rec, ...r }, workflow: r.workflow });
      }
      app.toast('Workflow saved', 'success');
    } catch (e) {
      setError(errorText(e));
    }
  };

  const doSaveAs = async () => {
    setError('');
    const name = saveAsName.trim() || `${meta.name} (copy)`;
    try {
      const wf: Workflow = { ...current(), name, meta: { ...meta.meta, category: 'user' } };
      delete wf.id;
      const r = await api<WorkflowRecord>('/api/v1/workflows/', { json: { workflow: wf } });
      setSaveAs(false);
      onSaved({ record: r, workflow: r.workflow });
      app.toast(`Saved as “${name}”`, 'success');
    } catch (e) {
      setError(errorText(e));
    }
  };

  const toggleShare = async (v: boolean) => {
    if (!rec) return;
    try {
      const r = await api<WorkflowRecord>(`/api/v1/workflows/i/${rec.workflow_id}/is_public`, { method: 'PATCH', json: { is_public: v } });
      onSaved({ record: { ...rec, ...r }, workflow: r.workflow });
    } catch (e) {
      app.toast(errorText(e), 'error');
    }
  };

  const del = async () => {
    setConfirmDelete(false);
    if (!rec) return;
    try {
      await api(`/api/v1/workflows/i/${rec.workflow_id}`, { method: 'DELETE' });
      onClosed();
    } catch (e) {
      app.toast(errorText(e), 'error');
    }
  };

  const run = async () => {
    setError('');
    try {
      const wf = current();
      const graph = workflowToGraph(wf);
      const { id: _id, ...wfNoId } = wf;
      await api('/api/v1/queue/default/enqueue_batch', {
        json: { prepend: false, batch: { graph, workflow: wfNoId, runs: 1, origin: 'workflows', destination: 'gallery', data: [] } },
      });
      app.toast('Workflow enqueued', 'success');
    } catch (e) {
      setError(errorText(e));
    }
  };

  const addNode = (type: string) => {
    const t = templates[type];
    if (!t) return;
    const center = rf.screenToFlowPosition ? rf.screenToFlowPosition({ x: 400, y: 200 }) : { x: 0, y: 0 };
    const wn = nodeFromTemplate(t, { x: center.x + Math.random() * 60, y: center.y + Math.random() * 60 });
    setNodes((ns) => [...ns, { id: wn.id, type: 'invocation', position: wn.position, data: { ...wn.data, template: t } }]);
    setAddType('');
  };

  const onConnect = useCallback(
    (c: Connection) => {
      setEdges((es) =>
        addEdge(
          { ...c, id: `reactflow__edge-${c.source}${c.sourceHandle}-${c.target}${c.targetHandle}` },
          es.filter((e) => !(e.target === c.target && e.targetHandle === c.targetHandle && c.targetHandle !== 'item')),
        ),
      );
    },
    [setEdges],
  );

  const isValidConnection = useCallback(
    (c: Connection | Edge) => {
      const s = nodes.find((n) => n.id === c.source)?.data.template;
      const t = nodes.find((n) => n.id === c.target)?.data.template;
      if (!s || !t || c.source === c.target) return true;
      const out = s.outputs.find((o) => o.name === c.sourceHandle);
      const inp = t.inputs.find((i) => i.name === c.targetHandle);
      if (!out || !inp || inp.input === 'direct') return false;
      return typesCompatible(out.typeName, inp.typeName);
    },
    [nodes],
  );

  const nodeTypes = useMemo(() => ({ invocation: InvocationNode }), []);
  const sortedTemplates = useMemo(() => Object.values(templates).sort((a, b) => a.title.localeCompare(b.title)), [templates]);

  return (
    <section className="editor panel" aria-label="Workflow editor">
      <div className="editor-toolbar row wrap">
        <label className="field inline">
          <span className="sr-only">Workflow Name</span>
          <input aria-label="Workflow Name" value={meta.name} onChange={(e) => setMeta({ ...meta, name: e.target.value })} disabled={!canSave} />
        </label>
        {!canSave && (
          <span className="badge" data-testid="read-only-workflow">
            Read-only
          </span>
        )}
        <button type="button" className="btn small primary" onClick={run}>
          Invoke
        </button>
        <button type="button" className="btn small" onClick={save} disabled={!canSave} title={canSave ? 'Save' : 'Only the owner can save this workflow; use Save As'}>
          Save
        </button>
        <button
          type="button"
          className="btn small"
          onClick={() => {
            setSaveAsName(`${meta.name} (copy)`);
            setSaveAs(true);
          }}
        >
          Save As
        </button>
        {rec && owner && !isDefault && (
          <label className="check small">
            <input type="checkbox" checked={rec.is_public} onChange={(e) => toggleShare(e.target.checked)} />
            <span>Shared</span>
          </label>
        )}
        {rec && owner && !isDefault && (
          <button type="button" className="btn small danger" onClick={() => setConfirmDelete(true)}>
            Delete Workflow
          </button>
        )}
        {confirmDelete && rec && <DeleteWorkflowDialog name={rec.name} onCancel={() => setConfirmDelete(false)} onDelete={del} />}
        <button
          type="button"
          className="btn small"
          onClick={() => {
            const blob = new Blob([JSON.stringify(current(), null, 2)], { type: 'application/json' });
            const a = document.createElement('a');
            a.href = URL.createObjectURL(blob);
            a.download = `${meta.name || 'workflow'}.json`;
            a.click();
          }}
        >
          Export
        </button>
        <label className="field inline">
          <span className="sr-only">Add node</span>
          <select aria-label="Add node" value={addType} onChange={(e) => addNode(e.target.value)}>
            <option value="">+ Add node…</option>
            {sortedTemplates.map((t) => (
              <option key={t.type} value={t.type}>
                {t.title}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {saveAs && (
        <form
          className="row card"
          onSubmit={(e) => {
            e.preventDefault();
            doSaveAs();
          }}
        >
          <label className="field grow">
            <span>New Workflow Name</span>
            <input autoFocus value={saveAsName} onChange={(e) => setSaveAsName(e.target.value)} />
          </label>
          <button type="submit" className="btn small primary">
            Save Copy
          </button>
          <button type="button" className="btn small" onClick={() => setSaveAs(false)}>
            Cancel
          </button>
        </form>
      )}
      <div className="flow" data-testid="node-editor">
        <ReactFlow
          nodes={nodes}
          edges={edges}
          onNodesChange={onNodesChange}
          onEdgesChange={onEdgesChange}
          onConnect={onConnect}
          isValidConnection={isValidConnection}
          nodeTypes={nodeTypes}
          colorMode="dark"
          fitView
          fitViewOptions={{ maxZoom: 1 }}
          minZoom={0.1}
          proOptions={{ hideAttribution: true }}
        >
          <Background />
          <Controls />
        </ReactFlow>
      </div>
    </section>
  );
}

function InvocationNode({ id, data }: NodeProps<InvNode>) {
  const rf = useReactFlow();
  const t = data.template;
  const setValue = (name: string, value: unknown) => {
    rf.updateNodeData(id, (n) => {
      const d = n.data as InvNodeData;
      return { inputs: { ...d.inputs, [name]: { ...(d.inputs[name] ?? { name, label: '' }), value } } };
    });
  };
  if (!t) {
    return (
      <div className="inv-node unknown" data-testid="flow-node" data-node-type={data.type}>
        <div className="inv-title">{data.label || data.type}</div>
        <div className="muted small">Unknown node type</div>
      </div>
    );
  }
  return (
    <div className="inv-node" data-testid="flow-node" data-node-type={data.type}>
      <div className="inv-title" title={t.description}>
        {data.label || t.title}
      </div>
      <div className="inv-body">
        {t.inputs
          .filter((f) => !f.uiHidden)
          .map((f) => (
            <div key={f.name} className="inv-field">
              {f.input !== 'direct' && <Handle type="target" position={Position.Left} id={f.name} className={`h h-${f.typeName.replace(/\W/g, '')}`} />}
              <label className="inv-label">
                <span>{f.title}</span>
                {f.input !== 'connection' && <FieldInput f={f} value={data.inputs?.[f.name]?.value} onChange={(v) => setValue(f.name, v)} />}
              </label>
            </div>
          ))}
        {t.outputs.map((o) => (
          <div key={o.name} className="inv-field out">
            <span>{o.title}</span>
            <Handle type="source" position={Position.Right} id={o.name} className={`h h-${o.typeName.replace(/\W/g, '')}`} />
          </div>
        ))}
      </div>
    </div>
  );
}

function FieldInput({ f, value, onChange }: { f: NodeTemplate['inputs'][number]; value: unknown; onChange: (v: unknown) => void }) {
  const ref = useRef<HTMLInputElement>(null);
  switch (f.kind) {
    case 'integer':
    case 'float':
      return (
        <input
          ref={ref}
          className="nodrag"
          type="number"
          step={f.kind === 'integer' ? 1 : 0.01}
          value={value === undefined || value === null ? '' : String(value)}
          onChange={(e) => onChange(e.target.value === '' ? undefined : f.kind === 'integer' ? Math.round(Number(e.target.value)) : Number(e.target.value))}
        />
      );
    case 'boolean':
      return <input className="nodrag" type="checkbox" checked={!!value} onChange={(e) => onChange(e.target.checked)} />;
    case 'enum':
      return (
        <select className="nodrag" value={String(value ?? '')} onChange={(e) => onChange(e.target.value)}>
          {(f.options ?? []).map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      );
    case 'string':
      return <textarea className="nodrag" rows={1} value={String(value ?? '')} onChange={(e) => onChange(e.target.value)} />;
    default:
      if (f.typeName === 'ImageField') {
        const name = (value as { image_name?: string } | undefined)?.image_name ?? '';
        return (
          <input className="nodrag" placeholder="image name" value={name} onChange={(e) => onChange(e.target.value ? { image_name: e.target.value } : undefined)} />
        );
      }
      if (f.typeName === 'ModelIdentifierField') {
        return <ModelPicker value={value as { key?: string } | undefined} onChange={onChange} />;
      }
      if (f.typeName === 'BoardField') {
        return <BoardPicker value={value as { board_id: string } | undefined} onChange={onChange} />;
      }
      return <span className="muted small">{f.typeName}</span>;
  }
}

function BoardPicker({ value, onChange }: { value: { board_id: string } | undefined; onChange: (v: unknown) => void }) {
  const app = useApp();
  const boards = app.boards.filter((b) => !b.archived && (app.user?.is_admin || b.user_id === app.user?.user_id || b.board_visibility === 'public'));
  return (
    <select className="nodrag" value={value?.board_id ?? ''} onChange={(e) => onChange(e.target.value ? { board_id: e.target.value } : undefined)}>
      <option value="">Uncategorized</option>
      {boards.map((b) => (
        <option key={b.board_id} value={b.board_id}>
          {b.board_name}
        </option>
      ))}
    </select>
  );
}

function ModelPicker({ value, onChange }: { value: { key?: string; name?: string } | undefined; onChange: (v: unknown) => void }) {
  const app = useApp();
  const models = app.models ?? [];
  const known = models.some((m) => m.key === value?.key);
  return (
    <select
      className="nodrag"
      aria-label="Model"
      value={value?.key ?? ''}
      onChange={(e) => {
        const m = models.find((x) => x.key === e.target.value);
        onChange(m ? { key: m.key, hash: m.hash, name: m.name, base: m.base, type: m.type } : undefined);
      }}
    >
      <option value="">{models.length ? 'Choose a model' : 'No models installed'}</option>
      {value?.key && !known && <option value={value.key}>{value.name ?? value.key} (missing)</option>}
      {models.map((m) => (
        <option key={m.key} value={m.key}>
          {m.name} ({m.base})
        </option>
      ))}
    </select>
  );
}
