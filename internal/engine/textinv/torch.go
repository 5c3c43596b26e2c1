package textinv

import "fmt"

func loadTorch(path string, lim Limits) (*Embedding, error) {
	return nil, fmt.Errorf("%w: PyTorch embedding files need the restricted unpickler", ErrInvalid)
}
