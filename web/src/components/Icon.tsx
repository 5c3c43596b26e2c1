// Small stroke icons (inline SVG, so no font glyphs are needed).
const PATHS: Record<string, string> = {
  generate: 'M12 3l1.8 5.2L19 10l-5.2 1.8L12 17l-1.8-5.2L5 10l5.2-1.8z M19 16l.8 2.2L22 19l-2.2.8L19 22l-.8-2.2L16 19l2.2-.8z',
  canvas: 'M3 5h18v14H3z M7 15l3-4l3 3l2-2l3 3',
  gallery: 'M4 4h7v7H4z M13 4h7v7h-7z M4 13h7v7H4z M13 13h7v7h-7z',
  upscale: 'M4 14v6h6 M4 20l7-7 M14 4h6v6 M20 4l-7 7',
  workflows: 'M6 3a3 3 0 1 0 0 6a3 3 0 1 0 0-6 M18 15a3 3 0 1 0 0 6a3 3 0 1 0 0-6 M6 9v3a3 3 0 0 0 3 3h6 M18 9V6 M15 6h6',
  queue: 'M4 6h16 M4 12h16 M4 18h10',
  models: 'M12 3l8 4.5v9L12 21l-8-4.5v-9z M12 12l8-4.5 M12 12v9 M12 12L4 7.5',
  users: 'M9 11a4 4 0 1 0 0-8a4 4 0 1 0 0 8 M2 21c0-4 3-6 7-6s7 2 7 6 M17 4a3.5 3.5 0 0 1 0 7 M19 15c2 .8 3 2.6 3 6',
  profile: 'M12 12a4 4 0 1 0 0-8a4 4 0 1 0 0 8 M4 21c0-4.5 3.5-7 8-7s8 2.5 8 7',
  logout: 'M15 4h4v16h-4 M10 8l-4 4l4 4 M6 12h10',
  trash: 'M4 7h16 M9 7V4h6v3 M6 7l1 13h10l1-13',
  pencil: 'M4 20l4-1l11-11l-3-3L5 16z',
  more: 'M5 12h.01 M12 12h.01 M19 12h.01',
};

export function Icon({ name, size = 18 }: { name: keyof typeof PATHS | string; size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth={name === 'more' ? 3 : 1.8} strokeLinecap="round" strokeLinejoin="round" aria-hidden="true" focusable="false">
      <path d={PATHS[name] ?? ''} />
    </svg>
  );
}
