import { describe, expect, it } from 'vitest';
import { emptyWorkflow, nodeFromTemplate, parseTemplates, parseWorkflowFile, typesCompatible, workflowToGraph } from './templates';

const openapi = {
  components: {
    schemas: {
      ImageField: { type: 'object', properties: { image_name: { type: 'string' } } },
      ImageOutput: {
        class: 'output',
        properties: {
          image: { $ref: '#/components/schemas/ImageField', field_kind: 'output', title: 'Image' },
          width: { type: 'integer', field_kind: 'output', title: 'Width' },
          type: { const: 'image_output', field_kind: 'node_attribute' },
        },
      },
      ImageResizeInvocation: {
        class: 'invocation',
        title: 'Resize Image',
        version: '1.2.2',
        category: 'image',
        output: { $ref: '#/components/schemas/ImageOutput' },
        properties: {
          id: { type: 'string', field_kind: 'node_attribute' },
          type: { const: 'img_resize', field_kind: 'node_attribute' },
          image: { $ref: '#/components/schemas/ImageField', field_kind: 'input', input: 'any', orig_required: true, title: 'Image' },
          width: { type: 'integer', default: 512, field_kind: 'input', input: 'any', title: 'Width' },
          resample_mode: { type: 'string', enum: ['nearest', 'bicubic'], default: 'bicubic', field_kind: 'input', input: 'any', title: 'Resample Mode' },
          metadata: { anyOf: [{ $ref: '#/components/schemas/MetadataField' }, { type: 'null' }], field_kind: 'internal', input: 'connection' },
        },
      },
      NotANode: { type: 'object' },
    },
  },
};

describe('templates', () => {
  const t = parseTemplates(openapi);
  it('reads invocation schemas only', () => {
    expect(Object.keys(t)).toEqual(['img_resize']);
  });
  it('reads inputs and outputs', () => {
    const r = t.img_resize;
    expect(r.title).toBe('Resize Image');
    expect(r.inputs.map((i) => i.name)).toEqual(['image', 'width', 'resample_mode']);
    expect(r.inputs[0]).toMatchObject({ kind: 'object', typeName: 'ImageField', required: true });
    expect(r.inputs[1]).toMatchObject({ kind: 'integer', default: 512 });
    expect(r.inputs[2]).toMatchObject({ kind: 'enum', options: ['nearest', 'bicubic'] });
    expect(r.outputs).toEqual([
      { name: 'image', title: 'Image', typeName: 'ImageField' },
      { name: 'width', title: 'Width', typeName: 'integer' },
    ]);
  });
  it('matches connection types', () => {
    expect(typesCompatible('ImageField', 'ImageField')).toBe(true);
    expect(typesCompatible('integer', 'float')).toBe(true);
    expect(typesCompatible('integer', 'integer[]')).toBe(true);
    expect(typesCompatible('ImageField', 'integer')).toBe(false);
  });
});

describe('workflow to graph', () => {
  const t = parseTemplates(openapi).img_resize;
  it('turns nodes and edges into an execution graph, leaving connected inputs out', () => {
    const wf = emptyWorkflow('x');
    const a = nodeFromTemplate(t, { x: 0, y: 0 }, 'a');
    const b = nodeFromTemplate(t, { x: 100, y: 0 }, 'b');
    a.data.inputs.image.value = { image_name: 'in.png' };
    b.data.inputs.width.value = 64;
    wf.nodes = [a, b];
    wf.edges = [{ id: 'e', type: 'default', source: 'a', target: 'b', sourceHandle: 'image', targetHandle: 'image' }];
    const g = workflowToGraph(wf);
    expect(g.nodes.a).toMatchObject({ id: 'a', type: 'img_resize', image: { image_name: 'in.png' }, width: 512, resample_mode: 'bicubic' });
    expect(g.nodes.b.image).toBeUndefined();
    expect(g.nodes.b.width).toBe(64);
    expect(g.edges).toEqual([{ source: { node_id: 'a', field: 'image' }, destination: { node_id: 'b', field: 'image' } }]);
  });
  it('imports a file as a new user workflow', () => {
    const wf = parseWorkflowFile(JSON.stringify({ ...emptyWorkflow('f'), id: 'old', meta: { version: '3.0.0', category: 'default' } }));
    expect(wf.id).toBeUndefined();
    expect(wf.meta.category).toBe('user');
    expect(wf.name).toBe('f');
    expect(() => parseWorkflowFile('{"a":1}')).toThrow();
  });
});
