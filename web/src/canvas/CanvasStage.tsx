// The drawing surface, with react-konva. Konva is the 2D scene library InvokeAI's canvas uses: a retained scene
// graph over <canvas> with per-layer canvases, transforms (zoom/pan), hit testing and a Transformer for the box,
// which keeps this code to the document and the tools. Each document layer is one Konva layer (its own canvas),
// so an eraser stroke only cuts through its layer and redrawing one layer leaves the others alone. Shapes do not
// listen for events (no hit canvas to redraw); the stage interprets the pointer itself.
// The stroke being drawn lives in a separate preview layer updated imperatively (no React render per pointer
// move), and joins the document once, when the pointer is released: painting on a large document redraws only
// that small layer per frame.
import Konva from 'konva';
import { useEffect, useMemo, useRef, useState } from 'react';
import { Group, Image as KImage, Layer as KLayer, Line, Rect as KRect, Shape, Stage, Transformer } from 'react-konva';
import { loadImage } from './render';
import { displayColor, docToLayer, newId, snap8, type CanvasDoc, type CanvasObject, type Layer, type LineObject, type Rect } from './types';

export type Tool = 'brush' | 'eraser' | 'rect' | 'move' | 'transform' | 'bbox' | 'view' | 'picker';

export interface StageProps {
  doc: CanvasDoc;
  tool: Tool;
  brushSize: number;
  color: string;
  /** Images laid over the document (staging candidate, filter preview). */
  overlay: { image_name: string; rect: Rect; opacity: number } | null;
  onObject: (layerId: string, obj: CanvasObject) => void;
  onMoveLayer: (layerId: string, dx: number, dy: number) => void;
  onTransformLayer: (layerId: string, t: { x: number; y: number; scaleX: number; scaleY: number; rotation: number }) => void;
  onBbox: (r: Rect) => void;
  onView: (v: CanvasDoc['view']) => void;
  onPick: (color: string) => void;
}

function useLoadedImage(name: string | null): HTMLImageElement | null {
  const [img, setImg] = useState<HTMLImageElement | null>(null);
  useEffect(() => {
    let live = true;
    setImg(null);
    if (name) loadImage(name).then((i) => live && setImg(i), () => undefined);
    return () => {
      live = false;
    };
  }, [name]);
  return img;
}

function ImageNode({ name, x, y, width, height, opacity }: { name: string; x: number; y: number; width: number; height: number; opacity?: number }) {
  const img = useLoadedImage(name);
  if (!img) return null;
  return <KImage image={img} x={x} y={y} width={width} height={height} opacity={opacity ?? 1} listening={false} />;
}

/** A pen stroke: segments as wide as the pressure at their ends. */
function PressureLine({ o, color }: { o: LineObject; color: string }) {
  return (
    <Shape
      listening={false}
      perfectDrawEnabled={false}
      globalCompositeOperation={o.tool === 'eraser' ? 'destination-out' : 'source-over'}
      sceneFunc={(ctx) => {
        ctx.strokeStyle = color;
        ctx.lineCap = 'round';
        ctx.lineJoin = 'round';
        const p = o.pressure!;
        for (let k = 2; k < o.points.length; k += 2) {
          ctx.lineWidth = Math.max(0.5, (o.size * (p[k / 2 - 1] + p[k / 2])) / 2);
          ctx.beginPath();
          ctx.moveTo(o.points[k - 2], o.points[k - 1]);
          ctx.lineTo(o.points[k], o.points[k + 1]);
          ctx.stroke();
        }
      }}
    />
  );
}

function ObjectNode({ o, flat }: { o: CanvasObject; flat: string | null }) {
  if (o.type === 'line' && o.pressure && o.points.length > 2) return <PressureLine o={o} color={flat ?? o.color} />;
  if (o.type === 'line') {
    return (
      <Line
        points={o.points.length === 2 ? [o.points[0], o.points[1], o.points[0] + 0.01, o.points[1]] : o.points}
        stroke={flat ?? o.color}
        strokeWidth={o.size}
        lineCap="round"
        lineJoin="round"
        globalCompositeOperation={o.tool === 'eraser' ? 'destination-out' : 'source-over'}
        listening={false}
        perfectDrawEnabled={false}
      />
    );
  }
  if (o.type === 'rect') return <KRect x={o.x} y={o.y} width={o.width} height={o.height} fill={flat ?? o.color} listening={false} />;
  return <ImageNode name={o.image_name} x={o.x} y={o.y} width={o.width} height={o.height} />;
}

function DocLayer({ layer, setRef }: { layer: Layer; setRef: (id: string, g: Konva.Group | null) => void }) {
  const flat = displayColor(layer);
  return (
    <KLayer visible={layer.visible} opacity={layer.opacity} listening={false}>
      <Group x={layer.x} y={layer.y} scaleX={layer.scaleX ?? 1} scaleY={layer.scaleY ?? 1} rotation={layer.rotation ?? 0} ref={(g) => setRef(layer.id, g)}>
        {layer.objects.map((o) => (
          <ObjectNode key={o.id} o={o} flat={flat} />
        ))}
      </Group>
    </KLayer>
  );
}

export function CanvasStage(p: StageProps) {
  const wrap = useRef<HTMLDivElement>(null);
  const stageRef = useRef<Konva.Stage>(null);
  const [size, setSize] = useState({ w: 800, h: 600 });
  const groups = useRef(new Map<string, Konva.Group>());
  const preview = useRef<Konva.Line>(null);
  const previewRect = useRef<Konva.Rect>(null);
  const bboxRef = useRef<Konva.Rect>(null);
  const trRef = useRef<Konva.Transformer>(null);
  const layerTrRef = useRef<Konva.Transformer>(null);
  const drag = useRef<null | {
    kind: 'stroke' | 'rect' | 'move' | 'pan';
    layerId: string;
    points: number[];
    /** Pen pressure per point; null for a mouse or touch. */
    pressure: number[] | null;
    start: { x: number; y: number };
    startView?: { x: number; y: number };
  }>(null);
  const spaceDown = useRef(false);
  const selected = p.doc.layers.find((l) => l.id === p.doc.selectedLayerId) ?? null;

  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setSize({ w: Math.max(50, el.clientWidth), h: Math.max(50, el.clientHeight) }));
    ro.observe(el);
    setSize({ w: Math.max(50, el.clientWidth), h: Math.max(50, el.clientHeight) });
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const down = (e: KeyboardEvent) => {
      if (e.code === 'Space' && !(e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement)) spaceDown.current = true;
    };
    const up = (e: KeyboardEvent) => {
      if (e.code === 'Space') spaceDown.current = false;
    };
    window.addEventListener('keydown', down);
    window.addEventListener('keyup', up);
    return () => {
      window.removeEventListener('keydown', down);
      window.removeEventListener('keyup', up);
    };
  }, []);

  // The box's transformer appears with the bbox tool.
  useEffect(() => {
    const tr = trRef.current;
    if (!tr) return;
    tr.nodes(p.tool === 'bbox' && bboxRef.current ? [bboxRef.current] : []);
    tr.getLayer()?.batchDraw();
  }, [p.tool, p.doc.bbox]);

  // The transform tool scales and rotates the selected layer.
  useEffect(() => {
    const tr = layerTrRef.current;
    if (!tr) return;
    const g = selected ? groups.current.get(selected.id) : undefined;
    tr.nodes(p.tool === 'transform' && g && selected && !selected.locked && selected.visible && selected.objects.length ? [g] : []);
    tr.getLayer()?.batchDraw();
  }, [p.tool, selected]);

  // Tests and the e2e suite map document points to the screen through this.
  useEffect(() => {
    (window as unknown as { __invokegoCanvas?: unknown }).__invokegoCanvas = {
      docToClient: (x: number, y: number) => {
        const r = wrap.current!.getBoundingClientRect();
        return { x: r.left + p.doc.view.x + x * p.doc.view.scale, y: r.top + p.doc.view.y + y * p.doc.view.scale };
      },
    };
  }, [p.doc.view]);

  const docPoint = () => {
    const st = stageRef.current!;
    const pos = st.getPointerPosition() ?? { x: 0, y: 0 };
    return { x: (pos.x - st.x()) / st.scaleX(), y: (pos.y - st.y()) / st.scaleY() };
  };

  const drawable = selected && selected.visible && !selected.locked;

  const onDown = (e: Konva.KonvaEventObject<PointerEvent>) => {
    const st = stageRef.current!;
    const pt = docPoint();
    const pan = p.tool === 'view' || spaceDown.current || e.evt.button === 1;
    if (pan) {
      drag.current = { kind: 'pan', layerId: '', points: [], pressure: null, start: { x: e.evt.clientX, y: e.evt.clientY }, startView: { x: st.x(), y: st.y() } };
      return;
    }
    // The box and the transformed layer change through their own Konva handlers.
    if (p.tool === 'bbox' || p.tool === 'transform') return;
    if (p.tool === 'picker') {
      const c = st.toCanvas({ x: st.getPointerPosition()!.x, y: st.getPointerPosition()!.y, width: 1, height: 1, pixelRatio: 1 });
      const d = c.getContext('2d')!.getImageData(0, 0, 1, 1).data;
      p.onPick('#' + [d[0], d[1], d[2]].map((v) => v.toString(16).padStart(2, '0')).join(''));
      return;
    }
    if (!drawable || !selected) return;
    const { x: lx, y: ly } = docToLayer(selected, pt.x, pt.y);
    if (p.tool === 'brush' || p.tool === 'eraser') {
      const pen = e.evt.pointerType === 'pen';
      drag.current = { kind: 'stroke', layerId: selected.id, points: [lx, ly], pressure: pen ? [e.evt.pressure] : null, start: pt };
      const line = preview.current!;
      const flat = displayColor(selected);
      line.setAttrs({
        visible: true,
        x: selected.x,
        y: selected.y,
        scaleX: selected.scaleX ?? 1,
        scaleY: selected.scaleY ?? 1,
        rotation: selected.rotation ?? 0,
        points: [lx, ly, lx + 0.01, ly],
        strokeWidth: p.brushSize,
        stroke: p.tool === 'eraser' ? 'rgba(128,128,128,0.6)' : (flat ?? p.color),
        opacity: p.tool === 'eraser' ? 1 : selected.opacity,
      });
      line.getLayer()!.batchDraw();
    } else if (p.tool === 'rect') {
      drag.current = { kind: 'rect', layerId: selected.id, points: [], pressure: null, start: pt };
      previewRect.current!.setAttrs({ visible: true, x: pt.x, y: pt.y, width: 0, height: 0, fill: displayColor(selected) ?? p.color, opacity: selected.opacity });
    } else if (p.tool === 'move') {
      drag.current = { kind: 'move', layerId: selected.id, points: [], pressure: null, start: pt };
    }
  };

  const onMove = (e: Konva.KonvaEventObject<PointerEvent>) => {
    const d = drag.current;
    if (!d) return;
    const st = stageRef.current!;
    if (d.kind === 'pan') {
      const ev = st.getPointerPosition();
      if (!ev) return;
      // getPointerPosition is in stage-container pixels, as the view offset is.
      const rect = st.container().getBoundingClientRect();
      const cx = ev.x + rect.left;
      const cy = ev.y + rect.top;
      st.position({ x: d.startView!.x + cx - d.start.x, y: d.startView!.y + cy - d.start.y });
      st.batchDraw();
      return;
    }
    const pt = docPoint();
    if (d.kind === 'stroke') {
      const l = p.doc.layers.find((x) => x.id === d.layerId)!;
      const q = docToLayer(l, pt.x, pt.y);
      d.points.push(q.x, q.y);
      d.pressure?.push(e.evt.pressure);
      preview.current!.points(d.points);
      preview.current!.getLayer()!.batchDraw();
    } else if (d.kind === 'rect') {
      const r = normRect(d.start, pt);
      previewRect.current!.setAttrs(r);
      previewRect.current!.getLayer()!.batchDraw();
    } else if (d.kind === 'move') {
      const g = groups.current.get(d.layerId);
      const l = p.doc.layers.find((x) => x.id === d.layerId)!;
      g?.position({ x: l.x + pt.x - d.start.x, y: l.y + pt.y - d.start.y });
      g?.getLayer()?.batchDraw();
    }
  };

  const onUp = () => {
    const d = drag.current;
    drag.current = null;
    if (!d) return;
    const st = stageRef.current!;
    if (d.kind === 'pan') {
      p.onView({ x: st.x(), y: st.y(), scale: st.scaleX() });
      return;
    }
    const pt = docPoint();
    if (d.kind === 'stroke') {
      preview.current!.visible(false);
      preview.current!.getLayer()!.batchDraw();
      const line: LineObject = { type: 'line', id: newId('line'), tool: p.tool === 'eraser' ? 'eraser' : 'brush', points: d.points.map(round2), size: p.brushSize, color: p.color };
      if (d.pressure) line.pressure = d.pressure.map(round2);
      p.onObject(d.layerId, line);
    } else if (d.kind === 'rect') {
      previewRect.current!.visible(false);
      previewRect.current!.getLayer()!.batchDraw();
      const l = p.doc.layers.find((x) => x.id === d.layerId)!;
      // The rectangle in the layer's own frame (axis-aligned there when the layer is rotated).
      const r = normRect(docToLayer(l, d.start.x, d.start.y), docToLayer(l, pt.x, pt.y));
      if (r.width >= 1 && r.height >= 1) p.onObject(d.layerId, { type: 'rect', id: newId('rect'), ...r, color: p.color });
    } else if (d.kind === 'move') {
      const dx = Math.round(pt.x - d.start.x);
      const dy = Math.round(pt.y - d.start.y);
      if (dx || dy) p.onMoveLayer(d.layerId, dx, dy);
      else {
        const l = p.doc.layers.find((x) => x.id === d.layerId)!;
        groups.current.get(d.layerId)?.position({ x: l.x, y: l.y });
      }
    }
  };

  const onWheel = (e: Konva.KonvaEventObject<WheelEvent>) => {
    e.evt.preventDefault();
    const st = stageRef.current!;
    const old = st.scaleX();
    const pos = st.getPointerPosition() ?? { x: size.w / 2, y: size.h / 2 };
    const scale = Math.min(32, Math.max(0.05, old * (e.evt.deltaY > 0 ? 1 / 1.1 : 1.1)));
    const anchor = { x: (pos.x - st.x()) / old, y: (pos.y - st.y()) / old };
    p.onView({ x: pos.x - anchor.x * scale, y: pos.y - anchor.y * scale, scale });
  };

  const bb = p.doc.bbox;
  const layers = useMemo(() => [...p.doc.layers].reverse(), [p.doc.layers]);
  const setRef = (id: string, g: Konva.Group | null) => {
    if (g) groups.current.set(id, g);
    else groups.current.delete(id);
  };

  return (
    <div
      ref={wrap}
      className="canvas-stage"
      data-testid="canvas-stage"
      data-tool={p.tool}
      style={{ cursor: p.tool === 'view' ? 'grab' : p.tool === 'move' ? 'move' : 'crosshair' }}
    >
      <Stage
        ref={stageRef}
        width={size.w}
        height={size.h}
        x={p.doc.view.x}
        y={p.doc.view.y}
        scaleX={p.doc.view.scale}
        scaleY={p.doc.view.scale}
        onPointerDown={onDown}
        onPointerMove={onMove}
        onPointerUp={onUp}
        onPointerLeave={onUp}
        onWheel={onWheel}
      >
        {layers.map((l) => (
          <DocLayer key={l.id} layer={l} setRef={setRef} />
        ))}
        <KLayer listening={false}>
          {p.overlay && <ImageNode name={p.overlay.image_name} {...p.overlay.rect} opacity={p.overlay.opacity} />}
          <Line ref={preview} visible={false} lineCap="round" lineJoin="round" listening={false} perfectDrawEnabled={false} />
          <KRect ref={previewRect} visible={false} listening={false} />
        </KLayer>
        {/* Only the box and transform tools need Konva's hit detection: without it a pointer move costs no hit-canvas read. */}
        <KLayer listening={p.tool === 'bbox' || p.tool === 'transform'}>
          <KRect
            ref={bboxRef}
            x={bb.x}
            y={bb.y}
            width={bb.width}
            height={bb.height}
            stroke="#f5a623"
            strokeWidth={2 / p.doc.view.scale}
            dash={[8 / p.doc.view.scale, 4 / p.doc.view.scale]}
            listening={p.tool === 'bbox'}
            draggable={p.tool === 'bbox'}
            onDragEnd={(e) => p.onBbox({ ...bb, x: Math.round(e.target.x()), y: Math.round(e.target.y()) })}
            onTransformEnd={() => {
              const n = bboxRef.current!;
              const w = snap8(n.width() * n.scaleX());
              const h = snap8(n.height() * n.scaleY());
              n.scale({ x: 1, y: 1 });
              p.onBbox({ x: Math.round(n.x()), y: Math.round(n.y()), width: w, height: h });
            }}
          />
          <Transformer ref={trRef} rotateEnabled={false} keepRatio={p.doc.aspectLock} flipEnabled={false} ignoreStroke />
          <Transformer
            ref={layerTrRef}
            flipEnabled={false}
            onTransformEnd={() => {
              const g = selected ? groups.current.get(selected.id) : undefined;
              if (!g || !selected) return;
              p.onTransformLayer(selected.id, { x: round2(g.x()), y: round2(g.y()), scaleX: round2(g.scaleX()), scaleY: round2(g.scaleY()), rotation: round2(g.rotation()) });
            }}
          />
        </KLayer>
      </Stage>
    </div>
  );
}

function normRect(a: { x: number; y: number }, b: { x: number; y: number }): Rect {
  return { x: Math.round(Math.min(a.x, b.x)), y: Math.round(Math.min(a.y, b.y)), width: Math.round(Math.abs(b.x - a.x)), height: Math.round(Math.abs(b.y - a.y)) };
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
