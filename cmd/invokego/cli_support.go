package main

import (
	"fmt"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
)

// asAppErr renders a service error's detail for the terminal.
func asAppErr(err error) (string, bool) {
	e, ok := apperr.As(err)
	if !ok {
		return "", false
	}
	switch d := e.Detail.(type) {
	case string:
		return d, true
	case []apperr.ValidationItem:
		if len(d) > 0 {
			return d[0].Msg, true
		}
	}
	return fmt.Sprint(e.Detail), true
}

// cliActor is the operator at the terminal: an admin that is no account.
func cliActor() access.Principal {
	return access.Principal{UserID: "", IsAdmin: true, Authenticated: true}
}
