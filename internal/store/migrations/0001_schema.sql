-- The whole invokego schema, following InvokeAI's tables (docs/compatibility.md §2) with foreign keys where InvokeAI has none.
-- Timestamps are UTC strings 'YYYY-MM-DD HH:MM:SS.SSS', as InvokeAI stores them.

CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    display_name  TEXT,
    password_hash TEXT NOT NULL,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    is_active     BOOLEAN NOT NULL DEFAULT TRUE,
    token_epoch   INTEGER NOT NULL DEFAULT 0,
    created_at    DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    updated_at    DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    last_login_at DATETIME
);
CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_is_admin ON users(is_admin);
CREATE INDEX idx_users_is_active ON users(is_active);
CREATE TRIGGER tg_users_updated_at AFTER UPDATE ON users FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE users SET updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW') WHERE user_id = OLD.user_id;
END;
-- The synthetic owner of everything in single-user mode. Never an admin row, never able to log in.
INSERT INTO users (user_id, email, display_name, password_hash, is_admin, is_active)
VALUES ('system', 'system@system.invokeai', 'System', '', FALSE, TRUE);

CREATE TABLE app_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    updated_at DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW'))
);

CREATE TABLE images (
    image_name     TEXT PRIMARY KEY,
    image_origin   TEXT NOT NULL CHECK (image_origin IN ('internal', 'external')),
    image_category TEXT NOT NULL CHECK (image_category IN ('general', 'mask', 'control', 'user', 'other')),
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    session_id     TEXT,
    node_id        TEXT,
    metadata       TEXT,
    is_intermediate BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    updated_at     DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    deleted_at     DATETIME,
    starred        BOOLEAN NOT NULL DEFAULT FALSE,
    has_workflow   BOOLEAN NOT NULL DEFAULT FALSE,
    user_id        TEXT NOT NULL DEFAULT 'system' REFERENCES users(user_id),
    -- board_id copies board_images.board_id (kept in step by the board_images triggers below), so that one
    -- index serves a board's page in display order and its counts; board_images stays the record of truth.
    board_id       TEXT
);
CREATE INDEX idx_images_user_order ON images(user_id, starred, created_at);
CREATE INDEX idx_images_created_at ON images(created_at);
CREATE INDEX idx_images_starred_created ON images(starred, created_at);
CREATE INDEX idx_images_intermediate ON images(is_intermediate);
CREATE INDEX idx_images_board_order ON images(board_id, starred, created_at);
CREATE INDEX idx_images_board_created ON images(board_id, created_at);
CREATE INDEX idx_images_board_cover ON images(board_id, is_intermediate, starred, created_at);
-- Moving an image between boards is not an edit of the image, so board_id does not touch updated_at.
CREATE TRIGGER tg_images_updated_at AFTER UPDATE OF image_origin, image_category, width, height, session_id, node_id,
    metadata, is_intermediate, deleted_at, starred, has_workflow, user_id ON images FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE images SET updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW') WHERE image_name = OLD.image_name;
END;

CREATE TABLE boards (
    board_id         TEXT PRIMARY KEY,
    board_name       TEXT NOT NULL,
    cover_image_name TEXT REFERENCES images(image_name) ON DELETE SET NULL,
    created_at       DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    updated_at       DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    deleted_at       DATETIME,
    archived         BOOLEAN NOT NULL DEFAULT FALSE,
    user_id          TEXT NOT NULL DEFAULT 'system' REFERENCES users(user_id),
    board_visibility TEXT NOT NULL DEFAULT 'private' CHECK (board_visibility IN ('private', 'shared', 'public')),
    -- The BoardDTO's counts of non-intermediate images (category general) and assets (the other categories),
    -- kept by the images triggers below so that neither a board list nor a page's total scans the board.
    image_count      INTEGER NOT NULL DEFAULT 0,
    asset_count      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_boards_user_id ON boards(user_id);
CREATE INDEX idx_boards_visibility ON boards(board_visibility);
CREATE INDEX idx_boards_created_at ON boards(created_at);
-- Only edits of the board itself count as updates; image counts moving do not.
CREATE TRIGGER tg_boards_updated_at AFTER UPDATE OF board_name, cover_image_name, deleted_at, archived, user_id,
    board_visibility ON boards FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE boards SET updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW') WHERE board_id = OLD.board_id;
END;
CREATE TRIGGER tg_images_board_count_insert AFTER INSERT ON images FOR EACH ROW
WHEN NEW.board_id IS NOT NULL AND NOT NEW.is_intermediate
BEGIN
    UPDATE boards SET image_count = image_count + (NEW.image_category = 'general'),
        asset_count = asset_count + (NEW.image_category != 'general') WHERE board_id = NEW.board_id;
END;
CREATE TRIGGER tg_images_board_count_update AFTER UPDATE OF board_id, image_category, is_intermediate ON images FOR EACH ROW
BEGIN
    UPDATE boards SET image_count = image_count - (OLD.image_category = 'general'),
        asset_count = asset_count - (OLD.image_category != 'general')
        WHERE board_id = OLD.board_id AND NOT OLD.is_intermediate;
    UPDATE boards SET image_count = image_count + (NEW.image_category = 'general'),
        asset_count = asset_count + (NEW.image_category != 'general')
        WHERE board_id = NEW.board_id AND NOT NEW.is_intermediate;
END;
CREATE TRIGGER tg_images_board_count_delete AFTER DELETE ON images FOR EACH ROW
WHEN OLD.board_id IS NOT NULL AND NOT OLD.is_intermediate
BEGIN
    UPDATE boards SET image_count = image_count - (OLD.image_category = 'general'),
        asset_count = asset_count - (OLD.image_category != 'general') WHERE board_id = OLD.board_id;
END;

-- At most one board per image: image_name is the key.
CREATE TABLE board_images (
    board_id   TEXT NOT NULL REFERENCES boards(board_id) ON DELETE CASCADE,
    image_name TEXT NOT NULL PRIMARY KEY REFERENCES images(image_name) ON DELETE CASCADE,
    created_at DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    updated_at DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    deleted_at DATETIME
);
CREATE INDEX idx_board_images_board_id ON board_images(board_id, created_at);
CREATE TRIGGER tg_board_images_insert AFTER INSERT ON board_images FOR EACH ROW
BEGIN
    UPDATE images SET board_id = NEW.board_id WHERE image_name = NEW.image_name;
END;
CREATE TRIGGER tg_board_images_update AFTER UPDATE OF board_id, image_name ON board_images FOR EACH ROW
BEGIN
    UPDATE images SET board_id = NULL WHERE image_name = OLD.image_name;
    UPDATE images SET board_id = NEW.board_id WHERE image_name = NEW.image_name;
END;
-- Also runs for the rows a board's deletion cascades to.
CREATE TRIGGER tg_board_images_delete AFTER DELETE ON board_images FOR EACH ROW
BEGIN
    UPDATE images SET board_id = NULL WHERE image_name = OLD.image_name;
END;

CREATE TABLE workflow_library (
    workflow_id TEXT PRIMARY KEY,
    workflow    TEXT NOT NULL,
    created_at  DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    updated_at  DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    opened_at   DATETIME,
    category    TEXT GENERATED ALWAYS AS (json_extract(workflow, '$.meta.category')) VIRTUAL NOT NULL,
    name        TEXT GENERATED ALWAYS AS (json_extract(workflow, '$.name')) VIRTUAL NOT NULL,
    description TEXT GENERATED ALWAYS AS (json_extract(workflow, '$.description')) VIRTUAL NOT NULL,
    tags        TEXT GENERATED ALWAYS AS (json_extract(workflow, '$.tags')) VIRTUAL,
    user_id     TEXT NOT NULL DEFAULT 'system' REFERENCES users(user_id),
    is_public   BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX idx_workflow_library_category ON workflow_library(category);
CREATE INDEX idx_workflow_library_name ON workflow_library(name);
CREATE INDEX idx_workflow_library_user_id ON workflow_library(user_id);
CREATE INDEX idx_workflow_library_is_public ON workflow_library(is_public);
CREATE TRIGGER tg_workflow_library_updated_at AFTER UPDATE ON workflow_library FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE workflow_library SET updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW') WHERE workflow_id = OLD.workflow_id;
END;

CREATE TABLE session_queue (
    item_id              INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id             TEXT NOT NULL,
    queue_id             TEXT NOT NULL,
    session_id           TEXT NOT NULL UNIQUE,
    field_values         TEXT,
    session              TEXT NOT NULL,
    status               TEXT NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'canceled')),
    priority             INTEGER NOT NULL DEFAULT 0,
    error_type           TEXT,
    error_message        TEXT,
    error_traceback      TEXT,
    created_at           DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    updated_at           DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    started_at           DATETIME,
    completed_at         DATETIME,
    workflow             TEXT,
    origin               TEXT,
    destination          TEXT,
    retried_from_item_id INTEGER,
    status_sequence      INTEGER NOT NULL DEFAULT 0,
    -- dequeue_seq orders the starts of items: round-robin serves the user whose last start is oldest.
    dequeue_seq          INTEGER,
    user_id              TEXT NOT NULL DEFAULT 'system' REFERENCES users(user_id)
);
-- Covering indexes: the rows hold whole sessions, so counts and dequeues must not touch the table itself.
CREATE INDEX idx_session_queue_status_priority ON session_queue(queue_id, status, priority DESC, item_id);
CREATE INDEX idx_session_queue_user ON session_queue(user_id, queue_id, status);
CREATE INDEX idx_session_queue_batch ON session_queue(batch_id, queue_id, status, user_id);
CREATE INDEX idx_session_queue_destination ON session_queue(destination, queue_id, status, user_id);
-- Dequeue: strict priority order across queues (FIFO), and per user for round-robin, which also reads each
-- user's last start.
CREATE INDEX idx_session_queue_dequeue ON session_queue(status, priority DESC, item_id);
CREATE INDEX idx_session_queue_dequeue_user ON session_queue(status, user_id, priority DESC, item_id);
CREATE INDEX idx_session_queue_user_seq ON session_queue(user_id, dequeue_seq);
CREATE INDEX idx_session_queue_seq ON session_queue(dequeue_seq);
CREATE TRIGGER tg_session_queue_updated_at AFTER UPDATE ON session_queue FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE session_queue SET updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW') WHERE item_id = OLD.item_id;
END;
CREATE TRIGGER tg_session_queue_started_at AFTER UPDATE OF status ON session_queue FOR EACH ROW
WHEN NEW.status = 'in_progress' AND OLD.status != 'in_progress'
BEGIN
    UPDATE session_queue SET started_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW') WHERE item_id = OLD.item_id;
END;
CREATE TRIGGER tg_session_queue_completed_at AFTER UPDATE OF status ON session_queue FOR EACH ROW
WHEN NEW.status IN ('completed', 'failed', 'canceled') AND OLD.status NOT IN ('completed', 'failed', 'canceled')
BEGIN
    UPDATE session_queue SET completed_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW') WHERE item_id = OLD.item_id;
END;

CREATE TABLE client_state (
    user_id    TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    PRIMARY KEY (user_id, key)
);

CREATE TABLE models (
    id          TEXT PRIMARY KEY,
    config      TEXT NOT NULL,
    created_at  DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    updated_at  DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    hash        TEXT GENERATED ALWAYS AS (json_extract(config, '$.hash')) VIRTUAL NOT NULL,
    base        TEXT GENERATED ALWAYS AS (json_extract(config, '$.base')) VIRTUAL NOT NULL,
    type        TEXT GENERATED ALWAYS AS (json_extract(config, '$.type')) VIRTUAL NOT NULL,
    path        TEXT GENERATED ALWAYS AS (json_extract(config, '$.path')) VIRTUAL NOT NULL,
    format      TEXT GENERATED ALWAYS AS (json_extract(config, '$.format')) VIRTUAL NOT NULL,
    name        TEXT GENERATED ALWAYS AS (json_extract(config, '$.name')) VIRTUAL NOT NULL,
    description TEXT GENERATED ALWAYS AS (json_extract(config, '$.description')) VIRTUAL,
    source      TEXT GENERATED ALWAYS AS (json_extract(config, '$.source')) VIRTUAL NOT NULL,
    source_type TEXT GENERATED ALWAYS AS (json_extract(config, '$.source_type')) VIRTUAL NOT NULL,
    file_size   INTEGER GENERATED ALWAYS AS (json_extract(config, '$.file_size')) VIRTUAL,
    UNIQUE (path)
);
CREATE INDEX idx_models_base_type ON models(base, type);
CREATE INDEX idx_models_name ON models(name);
CREATE INDEX idx_models_hash ON models(hash);
CREATE TRIGGER tg_models_updated_at AFTER UPDATE ON models FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE models SET updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW') WHERE id = OLD.id;
END;

CREATE TABLE model_relationships (
    model_key_1 TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    model_key_2 TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    created_at  DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    PRIMARY KEY (model_key_1, model_key_2),
    CHECK (model_key_1 < model_key_2)
);

-- Model install jobs outlive a restart so an interrupted download can resume.
CREATE TABLE model_install_jobs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job        TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    updated_at DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW'))
);

CREATE TABLE style_presets (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    preset_data TEXT NOT NULL,
    type        TEXT NOT NULL DEFAULT 'user',
    created_at  DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    updated_at  DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    user_id     TEXT NOT NULL DEFAULT 'system' REFERENCES users(user_id),
    is_public   BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX idx_style_presets_user_id ON style_presets(user_id);

-- Bulk downloads: ownership lives here, not in memory, so it survives a restart (docs/security.md D10).
CREATE TABLE bulk_downloads (
    item_name   TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    board_id    TEXT,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'error', 'served')),
    error       TEXT,
    created_at  DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
    expires_at  DATETIME NOT NULL
);
CREATE INDEX idx_bulk_downloads_expires ON bulk_downloads(expires_at);
