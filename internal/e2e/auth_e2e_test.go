package e2e

import (
	"net/http"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// First run in multi-user mode: the setup screen, the admin splash, logout, login with "Remember me", reload, profile.
func TestE2ESetupLoginProfile(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t, apitest.Multiuser())
	p := b.newPage("admin", env.URL)
	const pw = "Sup3rSecret!"

	p.open("/")
	p.waitText("Set up the administrator")
	p.screenshot("setup-1280")
	p.fill("Email", "root@example.com")
	p.fill("Display Name", "Root")
	p.fill("Password", pw)
	p.fill("Confirm Password", "different")
	p.click("Create Administrator")
	p.waitText("Passwords do not match")
	p.fill("Confirm Password", pw)
	p.click("Create Administrator")
	p.waitFor("the main navigation", `document.querySelector('[data-testid="nav-generate"]')`)

	var st struct {
		SetupRequired bool `json:"setup_required"`
	}
	env.Do("GET", "/api/v1/auth/status").Expect(http.StatusOK).Decode(&st)
	if st.SetupRequired {
		t.Fatal("setup still required after the setup screen")
	}

	// No models: admins are invited to install a starter model.
	p.waitText("Welcome to Invoke")
	p.waitFor("starter models", `document.querySelectorAll('[data-testid="starter-models"] li').length > 0`)
	p.screenshot("splash-admin-1280")
	for _, nav := range []string{"Generate", "Gallery", "Workflows", "Queue", "Models", "Users"} {
		if ok, _ := p.control(nav, `nav[aria-label="Main"]`); !ok {
			t.Errorf("admin navigation lacks %q", nav)
		}
	}

	// Log out, then a failed and a good login with "Remember me".
	p.click("Log out")
	p.waitText("Sign in")
	p.screenshot("login-1280")
	p.viewport(400, 800)
	p.screenshot("login-narrow")
	p.viewport(1280, 800)
	p.fill("Email", "root@example.com")
	p.fill("Password", "wrong-password")
	p.click("Log in")
	p.waitText("Incorrect email or password")
	p.fill("Password", pw)
	p.check("Remember me", true)
	p.click("Log in")
	p.waitFor("the main navigation", `document.querySelector('[data-testid="nav-generate"]')`)
	if !js[bool](p, `!!localStorage.getItem('auth_token')`) {
		t.Error(`"Remember me" did not keep the token in local storage`)
	}
	p.reload()
	p.waitFor("the main navigation after reload", `document.querySelector('[data-testid="nav-generate"]')`)

	// Profile: display name.
	p.click("Profile")
	p.waitText("Change password")
	p.fill("Display Name", "Chief")
	p.click("Save Profile")
	p.waitText("Profile saved")
	p.screenshot("profile-1280")
	tok := env.Login("root@example.com", pw)
	var me struct {
		DisplayName string `json:"display_name"`
	}
	env.Do("GET", "/api/v1/auth/me", apitest.Token(tok)).Expect(http.StatusOK).Decode(&me)
	if me.DisplayName != "Chief" {
		t.Errorf("display name = %q, want Chief", me.DisplayName)
	}

	// Password change from the profile page; the new password works.
	p.fill("Current Password", pw)
	p.fill("New Password", "An0therSecret!")
	p.click("Change Password")
	p.waitText("Password changed")
	env.Login("root@example.com", "An0therSecret!")
}

// A non-admin without models is told to ask the administrator, without any address, and sees no admin screens.
func TestE2ENonAdminSplash(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	p := b.newPage("other", env.URL)
	loginUI(p, cast.Other, false)
	p.waitText("Ask your administrator")
	if p.has(`document.body.innerText.includes('admin@example.com')`) {
		t.Error("the splash shows the administrator's address")
	}
	for _, nav := range []string{"Models", "Users"} {
		if ok, _ := p.control(nav, `nav[aria-label="Main"]`); ok {
			t.Errorf("non-admin navigation shows %q", nav)
		}
	}
	if js[bool](p, `!!localStorage.getItem('auth_token')`) {
		t.Error("without Remember me the token must not be in local storage")
	}
	p.screenshot("splash-user-1280")
	p.viewport(400, 800)
	p.screenshot("splash-user-narrow")
}

// Single-user mode: no login at all.
func TestE2ESingleUser(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t)
	p := b.newPage("single", env.URL)
	p.open("/")
	p.waitFor("the main navigation", `document.querySelector('[data-testid="nav-generate"]')`)
	if p.has(`document.body.innerText.includes('Sign in')`) {
		t.Error("single-user mode shows a login screen")
	}
	if ok, _ := p.control("Log out", "body"); ok {
		t.Error("single-user mode shows Log out")
	}
	p.waitText("Welcome to Invoke") // system is admin: starter models
}
