import { defineConfig } from 'vitest/config';
import { writeFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';

// dist/.gitkeep is committed (the Go embed needs the folder); Vite empties dist, so put it back.
const keepGitkeep = {
  name: 'keep-gitkeep',
  closeBundle() {
    const p = resolve(import.meta.dirname, 'dist/.gitkeep');
    if (!existsSync(p)) writeFileSync(p, '');
  },
};

export default defineConfig({
  plugins: [keepGitkeep],
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 900,
    rollupOptions: {
      onwarn(warning: { code?: string }, warn: (w: unknown) => void) {
        // React Flow ships a "use client" directive, meaningless in a client-only bundle.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:9090',
      '/openapi.json': 'http://127.0.0.1:9090',
      '/ws': { target: 'ws://127.0.0.1:9090', ws: true },
    },
  },
  test: {
    environment: 'happy-dom',
    globals: true,
    include: ['src/**/*.test.{ts,tsx}'],
  },
} as any);
