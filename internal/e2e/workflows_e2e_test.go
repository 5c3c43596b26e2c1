package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

const (
	yourWF    = `[data-testid="your-workflows"]`
	sharedWF  = `[data-testid="shared-workflows"]`
	defaultWF = `[data-testid="default-workflows"]`
)

func wfItem(list, name string) string {
	return list + ` [data-testid="workflow-item"][data-workflow-name=` + q(name) + `]`
}

// Workflow sharing: a shared workflow appears in the other user's "Shared workflows", opens, cannot be saved,
// can be "saved as"; unsharing removes it.
func TestE2EWorkflowSharing(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	owner := b.newPage("owner", env.URL)
	other := b.newPage("other", env.URL)
	loginUI(owner, cast.Owner, false)
	loginUI(other, cast.Other, false)

	owner.click("Workflows")
	owner.waitFor("the default workflows", `document.querySelectorAll('`+defaultWF+` [data-testid="workflow-item"]').length > 0`)
	owner.click("New", `aside[aria-label="Workflow library"]`)
	owner.waitFor("the editor", `document.querySelector('[data-testid="node-editor"]')`)
	owner.fill("Workflow Name", "Team Flow")
	owner.waitFor("node templates", `document.querySelector('select[aria-label="Add node"]').options.length > 5`)
	owner.selectOption("Add node", "Integer")
	owner.waitFor("a node on the canvas", `document.querySelectorAll('[data-testid="flow-node"]').length === 1`)
	owner.click("Save", ".editor-toolbar")
	owner.waitFor("the saved workflow", `document.querySelector(`+q(wfItem(yourWF, "Team Flow"))+`)`)
	owner.check("Shared", true)
	owner.waitFor("the Shared badge", `document.querySelector(`+q(wfItem(yourWF, "Team Flow"))+`)?.textContent.includes('Shared')`)
	owner.screenshot("workflows-editor-1280")

	var list struct {
		Items []struct {
			WorkflowID string `json:"workflow_id"`
			Name       string `json:"name"`
		} `json:"items"`
	}
	env.Do("GET", "/api/v1/workflows/?is_public=true", apitest.Token(cast.Other.Token)).Expect(http.StatusOK).Decode(&list)
	id := ""
	for _, w := range list.Items {
		if w.Name == "Team Flow" {
			id = w.WorkflowID
		}
	}
	if id == "" {
		t.Fatal("the shared workflow is not listed with is_public=true")
	}

	other.click("Workflows")
	other.waitFor("the shared workflow in Shared workflows", `document.querySelector(`+q(wfItem(sharedWF, "Team Flow"))+`)`)
	if other.has(`document.querySelector(` + q(wfItem(yourWF, "Team Flow")) + `)`) {
		t.Error("someone else's workflow is listed under Your workflows")
	}
	if ok, _ := other.control("Delete Team Flow", sharedWF); ok {
		t.Error("a non-owner is offered Delete on a shared workflow")
	}
	other.click("Open Team Flow", sharedWF)
	other.waitFor("the opened workflow", `document.querySelectorAll('[data-testid="flow-node"]').length === 1`)
	other.waitFor("the read-only mark", `document.querySelector('[data-testid="read-only-workflow"]')`)
	if present, enabled := other.control("Save", ".editor-toolbar"); present && enabled {
		t.Error("Save is enabled on someone else's shared workflow")
	}
	for _, c := range []string{"Delete Workflow", "Shared"} {
		if ok, _ := other.control(c, ".editor-toolbar"); ok {
			t.Errorf("the editor offers %q to a non-owner", c)
		}
	}
	other.screenshot("workflows-shared-readonly-1280")
	expectStatus(t, "other PATCH shared workflow", env.Do("PATCH", "/api/v1/workflows/i/"+id, apitest.Token(cast.Other.Token),
		apitest.JSON(map[string]any{"workflow": map[string]any{"id": id, "name": "hijack", "author": "", "description": "", "version": "1.0.0",
			"contact": "", "tags": "", "notes": "", "exposedFields": []any{}, "meta": map[string]any{"version": "3.0.0", "category": "user"},
			"nodes": []any{}, "edges": []any{}}})), http.StatusForbidden)
	expectStatus(t, "other DELETE shared workflow", env.Do("DELETE", "/api/v1/workflows/i/"+id, apitest.Token(cast.Other.Token)), http.StatusForbidden)

	other.click("Save As", ".editor-toolbar")
	other.fill("New Workflow Name", "My Copy")
	other.click("Save Copy")
	other.waitFor("the copy under Your workflows", `document.querySelector(`+q(wfItem(yourWF, "My Copy"))+`)`)
	if present, enabled := other.control("Save", ".editor-toolbar"); !present || !enabled {
		t.Error("Save is not enabled on one's own copy")
	}

	// Unshare: it disappears from the other's Shared workflows.
	owner.check("Shared", false)
	owner.waitFor("the Shared badge gone", `!document.querySelector(`+q(wfItem(yourWF, "Team Flow"))+`)?.textContent.includes('Shared')`)
	other.reload()
	other.waitFor("the library", `document.querySelector('`+yourWF+`')`)
	other.waitFor("the copy still there", `document.querySelector(`+q(wfItem(yourWF, "My Copy"))+`)`)
	if other.has(`document.querySelector(` + q(wfItem(sharedWF, "Team Flow")) + `)`) {
		t.Error("the workflow is still listed as shared after unsharing")
	}
	expectStatus(t, "other GET unshared workflow", env.Do("GET", "/api/v1/workflows/i/"+id, apitest.Token(cast.Other.Token)), http.StatusForbidden)
}

// Import a workflow file and delete it again.
func TestE2EWorkflowImportDelete(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	p := b.newPage("owner", env.URL)
	loginUI(p, cast.Owner, false)
	wf := map[string]any{
		"name": "Imported Flow", "author": "me", "description": "from a file", "version": "1.0.0", "contact": "", "tags": "", "notes": "",
		"exposedFields": []any{}, "meta": map[string]any{"version": "3.0.0", "category": "user"},
		"nodes": []any{map[string]any{"id": "n1", "type": "invocation", "position": map[string]any{"x": 0, "y": 0},
			"data": map[string]any{"id": "n1", "type": "integer", "version": "1.0.1", "label": "", "notes": "", "isOpen": true,
				"isIntermediate": true, "useCache": true, "nodePack": "invokeai", "inputs": map[string]any{"value": map[string]any{"name": "value", "label": "", "value": 7}}}}},
		"edges": []any{},
	}
	data, _ := json.Marshal(wf)
	path := filepath.Join(t.TempDir(), "flow.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	p.click("Workflows")
	p.waitFor("the library", `document.querySelector('`+yourWF+`')`)
	p.upload(`input[aria-label="Import workflow"]`, path)
	p.waitFor("the imported workflow", `document.querySelector(`+q(wfItem(yourWF, "Imported Flow"))+`)`)
	p.waitFor("its node", `document.querySelectorAll('[data-testid="flow-node"]').length === 1`)
	// Run it: the integer node needs no model.
	p.click("Invoke", ".editor-toolbar")
	p.waitText("Workflow enqueued")
	p.viewport(400, 800)
	p.screenshot("workflows-narrow")
	p.viewport(1280, 800)
	p.click("Delete Imported Flow", yourWF)
	p.click("Delete", `[role="dialog"]`)
	p.waitFor("the workflow gone", `!document.querySelector(`+q(wfItem(yourWF, "Imported Flow"))+`)`)

	// A default workflow opens read-only with its nodes drawn from the server's templates.
	p.click("Open Text to Image - SD1.5", defaultWF)
	p.waitFor("the default workflow's nodes", `document.querySelectorAll('[data-testid="flow-node"]').length >= 4`)
	p.waitFor("the read-only mark", `document.querySelector('[data-testid="read-only-workflow"]')`)
	if p.has(`document.querySelector('[data-testid="flow-node"].unknown, .inv-node.unknown')`) {
		t.Error("a default workflow node has no template")
	}
	p.screenshot("workflows-default-1280")
}
