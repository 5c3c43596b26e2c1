-- The images on a board that a viewer may not read (someone else's, on a private board) are found by owner
-- within the board: board counts and covers subtract them without visiting the readable ones
-- (docs/security.md §5.2).
CREATE INDEX idx_images_board_user ON images(board_id, user_id, is_intermediate, image_category);
