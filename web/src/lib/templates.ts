// Node templates from the invocation schemas in /openapi.json, and workflow <-> graph conversion.
import type { Graph, GraphEdge, GraphNode } from './graph';
import type { Workflow, WorkflowNode } from './types';

export type FieldKind = 'integer' | 'float' | 'string' | 'boolean' | 'enum' | 'object';

export interface InputTemplate {
  name: string;
  title: string;
  description: string;
  kind: FieldKind;
  typeName: string; // used to match connections: "integer", "ImageField", "UNetField", "string[]"…
  input: 'any' | 'direct' | 'connection';
  required: boolean;
  default: unknown;
  options?: string[];
  uiHidden: boolean;
}

export interface OutputTemplate {
  name: string;
  title: string;
  typeName: string;
}

export interface NodeTemplate {
  type: string;
  title: string;
  description: string;
  category: string;
  version: string;
  nodePack: string;
  tags: string[];
  inputs: InputTemplate[];
  outputs: OutputTemplate[];
}

type Schema = Record<string, any>;

function refName(ref: string): string {
  return ref.split('/').pop() || ref;
}

function describeType(prop: Schema, all: Record<string, Schema>): { kind: FieldKind; typeName: string; options?: string[] } {
  if (prop.$ref) {
    const name = refName(prop.$ref);
    const target = all[name];
    if (target?.enum) return { kind: 'enum', typeName: name, options: target.enum };
    return { kind: 'object', typeName: name };
  }
  if (Array.isArray(prop.anyOf) || Array.isArray(prop.oneOf)) {
    const variants = (prop.anyOf || prop.oneOf).filter((v: Schema) => v.type !== 'null');
    if (variants.length === 1) return describeType(variants[0], all);
    // "int or list[int]" style unions: use the first scalar.
    const scalar = variants.find((v: Schema) => v.type && v.type !== 'array');
    if (scalar) return describeType(scalar, all);
    if (variants.length) return describeType(variants[0], all);
  }
  if (prop.enum || prop.const !== undefined) return { kind: 'enum', typeName: 'enum', options: prop.enum ?? [prop.const] };
  switch (prop.type) {
    case 'integer':
      return { kind: 'integer', typeName: 'integer' };
    case 'number':
      return { kind: 'float', typeName: 'float' };
    case 'string':
      return { kind: 'string', typeName: 'string' };
    case 'boolean':
      return { kind: 'boolean', typeName: 'boolean' };
    case 'array': {
      const inner = prop.items ? describeType(prop.items, all) : { typeName: 'any' };
      return { kind: 'object', typeName: `${inner.typeName}[]` };
    }
  }
  return { kind: 'object', typeName: 'any' };
}

export function parseTemplates(openapi: Schema): Record<string, NodeTemplate> {
  const all: Record<string, Schema> = openapi?.components?.schemas ?? {};
  const out: Record<string, NodeTemplate> = {};
  for (const [, s] of Object.entries(all)) {
    if (s.class !== 'invocation') continue;
    const props: Record<string, Schema> = s.properties ?? {};
    const type: string = props.type?.const ?? props.type?.default ?? props.type?.enum?.[0];
    if (!type) continue;
    const required = new Set<string>(s.required ?? []);
    const inputs: InputTemplate[] = [];
    for (const [name, p] of Object.entries(props)) {
      if (p.field_kind !== 'input') continue;
      const t = describeType(p, all);
      inputs.push({
        name,
        title: p.title ?? name,
        description: p.description ?? '',
        kind: t.kind,
        typeName: t.typeName,
        options: t.options,
        input: p.input ?? 'any',
        required: p.orig_required ?? required.has(name),
        default: p.default ?? p.orig_default,
        uiHidden: !!p.ui_hidden,
      });
    }
    const outputs: OutputTemplate[] = [];
    const outRef = s.output?.$ref ? all[refName(s.output.$ref)] : null;
    if (outRef) {
      for (const [name, p] of Object.entries<Schema>(outRef.properties ?? {})) {
        if (p.field_kind !== 'output') continue;
        outputs.push({ name, title: p.title ?? name, typeName: describeType(p, all).typeName });
      }
    }
    out[type] = {
      type,
      title: s.title ?? type,
      description: s.description ?? '',
      category: s.category ?? 'misc',
      version: s.version ?? '1.0.0',
      nodePack: s.node_pack ?? 'invokeai',
      tags: s.tags ?? [],
      inputs,
      outputs,
    };
  }
  return out;
}

/** Whether an output of one type may feed an input of another. */
export function typesCompatible(from: string, to: string): boolean {
  if (from === to || from === 'any' || to === 'any') return true;
  if (to === `${from}[]`) return true; // a single item into a collection
  if (from === 'integer' && to === 'float') return true;
  if (to.endsWith('[]') && to.startsWith('any')) return true;
  return false;
}

let counter = 0;
export function newNodeId(type: string): string {
  counter += 1;
  const rnd = typeof crypto !== 'undefined' && 'randomUUID' in crypto ? crypto.randomUUID().slice(0, 8) : Math.random().toString(36).slice(2, 10);
  return `${type}_${rnd}${counter}`;
}

export function nodeFromTemplate(t: NodeTemplate, position: { x: number; y: number }, id = newNodeId(t.type)): WorkflowNode {
  const inputs: WorkflowNode['data']['inputs'] = {};
  for (const f of t.inputs) inputs[f.name] = { name: f.name, label: '', value: f.default ?? undefined };
  return {
    id,
    type: 'invocation',
    position,
    data: { id, type: t.type, version: t.version, label: '', notes: '', isOpen: true, isIntermediate: false, useCache: true, nodePack: t.nodePack, inputs },
  };
}

export function emptyWorkflow(name = 'Untitled Workflow'): Workflow {
  return {
    name,
    author: '',
    description: '',
    version: '1.0.0',
    contact: '',
    tags: '',
    notes: '',
    exposedFields: [],
    meta: { version: '3.0.0', category: 'user' },
    nodes: [],
    edges: [],
    form: null,
  };
}

/** The execution graph for a workflow: invocation nodes with their direct values, edges by field. */
export function workflowToGraph(wf: Workflow): Graph {
  const nodes: Record<string, GraphNode> = {};
  const connected = new Set(wf.edges.map((e) => `${e.target}.${e.targetHandle}`));
  for (const n of wf.nodes) {
    if (n.type !== 'invocation') continue;
    const g: GraphNode = { id: n.id, type: n.data.type, is_intermediate: n.data.isIntermediate, use_cache: n.data.useCache };
    for (const [name, f] of Object.entries(n.data.inputs || {})) {
      if (connected.has(`${n.id}.${name}`)) continue;
      if (f.value === undefined || f.value === null || f.value === '') {
        if (f.value === '' ) g[name] = '';
        continue;
      }
      g[name] = f.value;
    }
    nodes[n.id] = g;
  }
  const edges: GraphEdge[] = wf.edges
    .filter((e) => nodes[e.source] && nodes[e.target])
    .map((e) => ({ source: { node_id: e.source, field: e.sourceHandle }, destination: { node_id: e.target, field: e.targetHandle } }));
  return { id: `wf-${Date.now()}`, nodes, edges };
}

/** Accepts an exported workflow file and makes it a new user workflow. */
export function parseWorkflowFile(text: string): Workflow {
  const data = JSON.parse(text);
  const wf = (data && typeof data === 'object' && 'workflow' in data && data.nodes === undefined ? data.workflow : data) as Workflow;
  if (!wf || typeof wf !== 'object' || !Array.isArray(wf.nodes) || !Array.isArray(wf.edges)) throw new Error('Not a workflow file');
  const copy: Workflow = { ...emptyWorkflow(), ...wf, meta: { version: wf.meta?.version || '3.0.0', category: 'user' } };
  delete copy.id;
  if (typeof copy.tags !== 'string') copy.tags = Array.isArray(copy.tags) ? (copy.tags as string[]).join(', ') : '';
  return copy;
}
