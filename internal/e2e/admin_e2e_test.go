package e2e

import (
	"net/http"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// Queue: own items with status, cancel and retry; others' items redacted; counts of the work ahead.
func TestE2EQueue(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	// Hold the processor so that items stay pending.
	env.Do("PUT", "/api/v1/queue/default/processor/pause", apitest.Token(cast.Admin.Token)).Expect(http.StatusOK)
	env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.Token(cast.Other.Token), apitest.JSON(integerGraphBatch(1))).Expect(http.StatusOK)
	env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.Token(cast.Owner.Token), apitest.JSON(integerGraphBatch(2))).Expect(http.StatusOK)

	p := b.newPage("owner", env.URL)
	loginUI(p, cast.Owner, false)
	p.click("Queue")
	p.waitFor("three queue rows", `document.querySelectorAll('[data-testid="queue-item"]').length === 3`)
	if n := js[int](p, `document.querySelectorAll('[data-testid="queue-item"][data-redacted="true"]').length`); n != 1 {
		t.Errorf("%d redacted rows, want 1", n)
	}
	p.waitFor("the counts", `document.querySelector('[data-testid="count-user-pending"]')?.textContent === '2'`)
	if got := js[string](p, `document.querySelector('[data-testid="count-pending"]').textContent`); got != "3" {
		t.Errorf("global pending = %s, want 3", got)
	}
	if got := js[string](p, `document.querySelector('[data-testid="count-ahead"]').textContent`); got != "1" {
		t.Errorf("others' pending = %s, want 1", got)
	}
	if ok, _ := p.control("Cancel", `[data-testid="queue-item"][data-redacted="true"]`); ok {
		t.Error("Cancel offered on another user's item")
	}
	if p.has(`document.querySelector('[data-testid="queue-item"][data-redacted="true"]').innerText.includes('other@example.com')`) {
		t.Error("a redacted row shows the other user's email")
	}
	p.screenshot("queue-1280")
	p.viewport(400, 800)
	p.screenshot("queue-narrow")
	p.viewport(1280, 800)

	// Cancel one of our own items, then retry it.
	p.click("Cancel", `[data-testid="queue-item"][data-redacted="false"][data-status="pending"]`)
	p.waitFor("a canceled row", `document.querySelector('[data-testid="queue-item"][data-status="canceled"]')`)
	p.click("Retry", `[data-testid="queue-item"][data-status="canceled"]`)
	p.waitFor("the retried item", `document.querySelectorAll('[data-testid="queue-item"]').length === 4`)
}

// Users (admin): create, edit, deactivate, delete.
func TestE2EUsersAdmin(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t, apitest.Multiuser())
	admin := env.SetupAdmin()
	p := b.newPage("admin", env.URL)
	loginUI(p, admin, false)
	p.click("Users")
	p.waitFor("the user list", `document.querySelector('[data-testid="user-list"]')`)
	p.fill("Email", "carol@example.com", `form[aria-label="Create user"]`)
	p.fill("Display Name", "Carol", `form[aria-label="Create user"]`)
	p.click("Generate Password")
	p.waitFor("a generated password", helpersField("Password")+`.value.length >= 12`)
	p.click("Create User")
	row := `[data-testid="user-item"][data-email="carol@example.com"]`
	p.waitFor("the new user", `document.querySelector('`+row+`')`)
	p.click("Edit carol@example.com", row)
	p.fill("Display Name", "Caroline", row)
	p.click("Save", row)
	p.waitFor("the new name", `document.querySelector('`+row+`').innerText.includes('Caroline')`)
	p.click("Deactivate", row)
	p.waitFor("the inactive mark", `document.querySelector('`+row+`').textContent.includes('Inactive')`)
	p.screenshot("users-1280")
	p.viewport(400, 800)
	p.screenshot("users-narrow")
	p.viewport(1280, 800)
	p.click("Delete carol@example.com", row)
	p.click("Delete", `[role="dialog"]`)
	p.waitFor("the user gone", `!document.querySelector('`+row+`')`)
}

func helpersField(label string) string {
	return `__field(document.querySelector('form[aria-label="Create user"]'), ` + q(label) + `)`
}

// Models (admin): the install form reports errors, the list renders.
func TestE2EModelsAdmin(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t, apitest.Multiuser())
	admin := env.SetupAdmin()
	p := b.newPage("admin", env.URL)
	loginUI(p, admin, false)
	p.click("Models")
	p.waitFor("the model list", `document.querySelector('[data-testid="model-list"]')`)
	p.fill("Model Source", "/definitely/not/a/model")
	p.click("Install Model")
	// Either the request is refused at once, or a job appears and ends in error.
	p.waitFor("an error", `document.querySelector('[role="alert"]') || document.querySelector('[data-testid="install-job"][data-status="error"]')`)
	p.screenshot("models-1280")
	p.viewport(400, 800)
	p.screenshot("models-narrow")
}
