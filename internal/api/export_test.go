package api_test

import "github.com/invokego/invokego/internal/config"

type configT = config.Config
