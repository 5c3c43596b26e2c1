-- Style presets become a feature (docs/compatibility.md §1.13). updated_at follows every change, as on the other
-- tables; listings filter by owner, sharing and type and sort by lower-cased name.
CREATE TRIGGER tg_style_presets_updated_at AFTER UPDATE ON style_presets FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE style_presets SET updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW') WHERE id = OLD.id;
END;
CREATE INDEX idx_style_presets_is_public ON style_presets(is_public);
CREATE INDEX idx_style_presets_type_name ON style_presets(type, LOWER(name));
-- Built-in presets are written by the binary at start-up under stable ids; rows of type 'default' left from
-- elsewhere would otherwise stay forever as presets nobody may change.
DELETE FROM style_presets WHERE type = 'default';
