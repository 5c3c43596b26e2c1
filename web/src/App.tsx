import { lazy, Suspense } from 'react';
import { useApp } from './lib/store';
import { SetupScreen, LoginScreen, ProfileScreen } from './screens/Auth';
import { GenerateScreen } from './screens/Generate';
import { GalleryScreen } from './screens/Gallery';
import { QueueScreen } from './screens/Queue';
import { ModelsScreen } from './screens/Models';
import { UsersScreen } from './screens/Users';
import { UpscaleScreen } from './screens/Upscale';
import { Toasts } from './components/Toasts';
import { Icon } from './components/Icon';

const WorkflowsScreen = lazy(() => import('./screens/Workflows'));
const CanvasScreen = lazy(() => import('./screens/Canvas'));

interface NavItem {
  path: string;
  label: string;
  icon: string;
  admin?: boolean;
  /** Only meaningful with accounts (multi-user mode). */
  multiuserOnly?: boolean;
}

const NAV: NavItem[] = [
  { path: '/generate', label: 'Generate', icon: 'generate' },
  { path: '/canvas', label: 'Canvas', icon: 'canvas' },
  { path: '/gallery', label: 'Gallery', icon: 'gallery' },
  { path: '/upscale', label: 'Upscale', icon: 'upscale' },
  { path: '/workflows', label: 'Workflows', icon: 'workflows' },
  { path: '/queue', label: 'Queue', icon: 'queue' },
  { path: '/models', label: 'Models', icon: 'models', admin: true },
  { path: '/users', label: 'Users', icon: 'users', admin: true, multiuserOnly: true },
];

export function App() {
  const app = useApp();
  if (!app.ready || !app.status) {
    return (
      <div className="center-screen" aria-busy="true">
        <div className="logo">invoke</div>
        <p className="muted">Loading…</p>
      </div>
    );
  }
  if (app.status.multiuser_enabled && app.status.setup_required) return <SetupScreen />;
  if (!app.user) return <LoginScreen />;

  const route = app.route === '/' ? '/generate' : app.route;
  const nav = NAV.filter((n) => (!n.admin || app.user!.is_admin) && (!n.multiuserOnly || app.multiuser));
  const section = nav.find((n) => route.startsWith(n.path))?.path ?? (route.startsWith('/profile') ? '/profile' : '/generate');

  return (
    <div className="shell">
      <nav className="sidenav" aria-label="Main">
        <div className="logo small" aria-hidden="true">
          invoke
        </div>
        {nav.map((n) => (
          <a
            key={n.path}
            href={n.path}
            className="navlink"
            aria-current={section === n.path ? 'page' : undefined}
            data-testid={`nav-${n.label.toLowerCase()}`}
            onClick={(e) => {
              e.preventDefault();
              app.navigate(n.path);
            }}
          >
            <span className="navicon" aria-hidden="true">
              <Icon name={n.icon} />
            </span>
            <span className="navlabel">{n.label}</span>
          </a>
        ))}
        <div className="navspacer" />
        {app.multiuser && (
          <>
            <a
              href="/profile"
              className="navlink"
              aria-current={section === '/profile' ? 'page' : undefined}
              data-testid="nav-profile"
              title={app.user.email}
              onClick={(e) => {
                e.preventDefault();
                app.navigate('/profile');
              }}
            >
              <span className="navicon" aria-hidden="true">
                <Icon name="profile" />
              </span>
              <span className="navlabel">Profile</span>
            </a>
            <button type="button" className="navlink navbutton" onClick={() => app.logout()}>
              <span className="navicon" aria-hidden="true">
                <Icon name="logout" />
              </span>
              <span className="navlabel">Log out</span>
            </button>
          </>
        )}
      </nav>
      <main className="content" data-testid={`screen-${section.slice(1)}`}>
        {section === '/generate' && <GenerateScreen />}
        {section === '/canvas' && (
          <Suspense fallback={<p className="muted pad">Loading canvas…</p>}>
            <CanvasScreen />
          </Suspense>
        )}
        {section === '/gallery' && <GalleryScreen />}
        {section === '/upscale' && <UpscaleScreen />}
        {section === '/queue' && <QueueScreen />}
        {section === '/workflows' && (
          <Suspense fallback={<p className="muted pad">Loading workflows…</p>}>
            <WorkflowsScreen />
          </Suspense>
        )}
        {section === '/models' && <ModelsScreen />}
        {section === '/users' && <UsersScreen />}
        {section === '/profile' && <ProfileScreen />}
      </main>
      <Toasts />
    </div>
  );
}
