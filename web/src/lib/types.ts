export interface User {
  user_id: string;
  email: string;
  display_name: string | null;
  is_admin: boolean;
  is_active: boolean;
  created_at?: string;
  updated_at?: string;
  last_login_at?: string | null;
}

export interface AuthStatus {
  setup_required: boolean;
  multiuser_enabled: boolean;
  strict_password_checking: boolean;
  admin_email: string | null;
}

export type Visibility = 'private' | 'shared' | 'public';

export interface Board {
  board_id: string;
  board_name: string;
  user_id: string;
  created_at: string;
  updated_at: string;
  cover_image_name: string | null;
  archived: boolean;
  board_visibility: Visibility;
  image_count: number;
  asset_count: number;
  owner_username: string | null;
}

export interface ImageDTO {
  image_name: string;
  image_url: string;
  thumbnail_url: string;
  image_origin: string;
  image_category: string;
  width: number;
  height: number;
  created_at: string;
  starred: boolean;
  has_workflow: boolean;
  board_id: string | null;
  is_intermediate: boolean;
  session_id?: string | null;
  node_id?: string | null;
}

export interface Paged<T> {
  limit: number;
  offset: number;
  total: number;
  items: T[];
}

export interface ModelConfig {
  key: string;
  hash: string;
  name: string;
  base: string;
  type: string;
  format?: string;
  path?: string;
  description?: string | null;
  source?: string;
  variant?: string;
  file_size?: number;
  default_settings?: Record<string, unknown> | null;
}

export interface QueueItem {
  item_id: number;
  status: 'pending' | 'in_progress' | 'completed' | 'failed' | 'canceled';
  batch_id: string;
  session_id: string;
  user_id: string;
  user_display_name?: string | null;
  user_email?: string | null;
  error_type?: string | null;
  error_message?: string | null;
  created_at: string;
  started_at?: string | null;
  completed_at?: string | null;
  origin?: string | null;
  destination?: string | null;
  queue_id: string;
}

export interface QueueStatus {
  queue_id: string;
  item_id: number | null;
  batch_id: string | null;
  session_id: string | null;
  pending: number;
  in_progress: number;
  completed: number;
  failed: number;
  canceled: number;
  total: number;
  user_pending?: number;
  user_in_progress?: number;
}

export interface WorkflowListItem {
  workflow_id: string;
  name: string;
  created_at: string;
  updated_at: string;
  opened_at: string | null;
  user_id: string;
  is_public: boolean;
  description: string;
  category: 'user' | 'default';
  tags: string;
  thumbnail_url: string | null;
}

export interface WorkflowNode {
  id: string;
  type: string;
  position: { x: number; y: number };
  data: {
    id: string;
    type: string;
    version: string;
    label: string;
    notes: string;
    isOpen: boolean;
    isIntermediate: boolean;
    useCache: boolean;
    nodePack?: string;
    inputs: Record<string, { name: string; label: string; value: unknown }>;
  };
}

export interface WorkflowEdge {
  id: string;
  type: string;
  source: string;
  target: string;
  sourceHandle: string;
  targetHandle: string;
}

export interface Workflow {
  id?: string;
  name: string;
  author: string;
  description: string;
  version: string;
  contact: string;
  tags: string;
  notes: string;
  exposedFields: { nodeId: string; fieldName: string }[];
  meta: { version: string; category: 'user' | 'default' };
  nodes: WorkflowNode[];
  edges: WorkflowEdge[];
  form?: unknown;
}

export interface WorkflowRecord {
  workflow_id: string;
  name: string;
  user_id: string;
  is_public: boolean;
  workflow: Workflow;
  created_at: string;
  updated_at: string;
  opened_at: string | null;
}

export interface InstallJob {
  id: number;
  status: string;
  source: { type: string; path?: string; url?: string; repo_id?: string } | string;
  bytes: number;
  total_bytes: number;
  error?: string | null;
  error_reason?: string | null;
  config_out?: ModelConfig | null;
}
