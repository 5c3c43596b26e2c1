package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/invokego/invokego/internal/app"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/config"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/store"
)

const modelsUsage = `Usage:
  invokego models install [--root DIR] [--inplace] [--token T] [--name N] [--base B] [--type T] SOURCE
      SOURCE: a local file or folder, an http(s) URL, a Hugging Face repo id owner/name[:variant][::subfolder],
      or the name of a starter model (see "invokego models starters")
  invokego models list    [--root DIR] [--base B] [--type T] [--json]
  invokego models remove  [--root DIR] KEY|NAME
  invokego models starters [--root DIR]
`

type modelsFlags struct {
	fs                           *flag.FlagSet
	root, token, name, base, typ string
	inplace, jsonOut             bool
}

func newModelsFlags(sub string, stderr io.Writer) *modelsFlags {
	f := &modelsFlags{fs: flag.NewFlagSet("models "+sub, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.StringVar(&f.root, "root", "", "root folder (default $INVOKEAI_ROOT or ./invokego-root)")
	f.fs.StringVar(&f.token, "token", "", "access token for the download")
	f.fs.StringVar(&f.name, "name", "", "name of the installed model")
	f.fs.StringVar(&f.base, "base", "", "base model (sd-1, sd-2, sdxl, ...) when it cannot be identified")
	f.fs.StringVar(&f.typ, "type", "", "model type (main, vae, lora, ...)")
	f.fs.BoolVar(&f.inplace, "inplace", false, "use a local model where it is instead of copying it")
	f.fs.BoolVar(&f.jsonOut, "json", false, "print JSON")
	return f
}

// parse accepts flags before and after positional arguments.
func (f *modelsFlags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.fs.Parse(args); err != nil {
			return nil, err
		}
		if f.fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, f.fs.Arg(0))
		args = f.fs.Args()[1:]
	}
}

func cmdModels(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, modelsUsage)
		return errUsage
	}
	sub := args[0]
	f := newModelsFlags(sub, stderr)
	pos, err := f.parse(args[1:])
	if err != nil {
		return errUsage
	}
	cfg, err := config.Load(config.ResolveRoot(f.root))
	if err != nil {
		return err
	}
	db, err := app.OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	bus := events.NewBus()
	// ResumeJobs stays off: a running server may be downloading the persisted jobs right now, and this command
	// runs only the job it is asked for (serve resumes the others).
	mm, err := app.NewModelManager(ctx, db, cfg, app.ModelManagerOptions{Events: bus, ResumeJobs: false})
	if err != nil {
		return err
	}
	defer mm.Close()
	switch {
	case sub == "install" && len(pos) == 1:
		return modelsInstall(ctx, mm, bus, f, pos[0], stdout, stderr)
	case sub == "list" && len(pos) == 0:
		return modelsList(ctx, mm, f, stdout)
	case sub == "remove" && len(pos) == 1:
		return modelsRemove(ctx, mm, pos[0], stdout)
	case sub == "starters" && len(pos) == 0:
		return modelsStarters(ctx, mm, stdout)
	}
	fmt.Fprint(stderr, modelsUsage)
	return errUsage
}

func cliError(err error) error {
	// A refused value names the field it came from (loc is ["body", field, ...]), which is the flag's name.
	if ae, ok := apperr.As(err); ok {
		if items, ok := ae.Detail.([]apperr.ValidationItem); ok && len(items) > 0 && len(items[0].Loc) > 1 {
			field := make([]string, 0, len(items[0].Loc)-1)
			for _, p := range items[0].Loc[1:] {
				field = append(field, fmt.Sprint(p))
			}
			return fmt.Errorf("%s: %s (got %v)", strings.Join(field, "."), items[0].Msg, items[0].Input)
		}
	}
	if msg, ok := asAppErr(err); ok {
		return errors.New(msg)
	}
	return err
}

func modelsInstall(ctx context.Context, mm *app.ModelManager, bus *events.Bus, f *modelsFlags, source string, stdout, stderr io.Writer) error {
	if starters, err := mm.Records.Starters(ctx); err == nil {
		for _, s := range starters.StarterModels {
			if strings.EqualFold(s.Name, source) {
				source = s.Source
			}
		}
	}
	var changes models.Changes
	if f.name != "" {
		changes.Name = &f.name
	}
	if f.base != "" {
		changes.Base = models.Ptr(models.BaseModelType(f.base))
	}
	if f.typ != "" {
		changes.Type = models.Ptr(models.ModelType(f.typ))
	}
	evs, unsubscribe := bus.Subscribe(1024)
	defer unsubscribe()
	job, err := mm.Installer.Install(ctx, source, f.inplace, f.token, changes)
	if err != nil {
		return cliError(err)
	}
	bar := newProgressBar(stderr, time.Now)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range evs {
			if id, _ := e.Payload["id"].(int64); id != job.ID {
				continue
			}
			switch e.Name {
			case "model_install_download_progress":
				b, _ := e.Payload["bytes"].(int64)
				t, _ := e.Payload["total_bytes"].(int64)
				bar.update("downloading", b, t)
			case "model_install_downloads_complete":
				bar.finish("downloaded")
			}
		}
	}()
	final, err := mm.Installer.Wait(ctx, job.ID)
	unsubscribe()
	<-done
	if err != nil {
		if errors.Is(err, context.Canceled) {
			// Interrupted: the job stays in the database, and the server resumes it when it next starts.
			fmt.Fprintln(stderr, "\ninterrupted; the download resumes the next time \"invokego serve\" starts")
		}
		return err
	}
	switch final.Status {
	case "completed":
		c := final.ConfigOut
		fmt.Fprintf(stdout, "installed %s (%s %s, %s) as %s\n  key  %s\n  hash %s\n", c.Name, c.Base, c.Type, c.Format, c.Path, c.Key, c.Hash)
		return nil
	case "paused":
		return errors.New("install paused")
	}
	return fmt.Errorf("install %s: %s", final.Status, final.Error)
}

func modelsList(ctx context.Context, mm *app.ModelManager, f *modelsFlags, stdout io.Writer) error {
	filter := store.ModelFilter{Type: f.typ}
	if f.base != "" {
		filter.Bases = []string{f.base}
	}
	list, err := mm.Records.List(ctx, filter)
	if err != nil {
		return err
	}
	if f.jsonOut {
		if list == nil {
			list = []*models.Config{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tNAME\tBASE\tTYPE\tFORMAT\tSIZE\tPATH")
	for _, c := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Key, c.Name, c.Base, c.Type, c.Format, humanBytes(c.FileSize), c.Path)
	}
	return tw.Flush()
}

func modelsRemove(ctx context.Context, mm *app.ModelManager, ref string, stdout io.Writer) error {
	key := ref
	if _, err := mm.Records.Get(ctx, ref); err != nil {
		list, lerr := mm.Records.List(ctx, store.ModelFilter{Name: ref})
		if lerr != nil {
			return lerr
		}
		switch len(list) {
		case 0:
			return fmt.Errorf("no model with key or name %q", ref)
		case 1:
			key = list[0].Key
		default:
			return fmt.Errorf("%d models are named %q; remove one by key", len(list), ref)
		}
	}
	if err := mm.Records.Delete(ctx, key); err != nil {
		return cliError(err)
	}
	fmt.Fprintln(stdout, "removed", key)
	return nil
}

func modelsStarters(ctx context.Context, mm *app.ModelManager, stdout io.Writer) error {
	list, err := mm.Records.Starters(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tBASE\tTYPE\tSOURCE\tINSTALLED")
	for _, s := range list.StarterModels {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", s.Name, s.Base, s.Type, s.Source, s.IsInstalled)
	}
	return tw.Flush()
}

// progressBar draws one line on a terminal: a bar, percent, bytes and speed.
type progressBar struct {
	out     io.Writer
	now     func() time.Time
	start   time.Time
	lastLen int
}

func newProgressBar(out io.Writer, now func() time.Time) *progressBar {
	return &progressBar{out: out, now: now, start: now()}
}

func (p *progressBar) update(label string, done, total int64) {
	const width = 30
	line := ""
	elapsed := p.now().Sub(p.start).Seconds()
	speed := ""
	if elapsed > 0 {
		speed = humanBytes(int64(float64(done)/elapsed)) + "/s"
	}
	if total > 0 {
		frac := float64(done) / float64(total)
		if frac > 1 {
			frac = 1
		}
		filled := int(frac * width)
		line = fmt.Sprintf("%s [%s%s] %3.0f%% %s/%s %s", label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
			frac*100, humanBytes(done), humanBytes(total), speed)
	} else {
		line = fmt.Sprintf("%s %s %s", label, humanBytes(done), speed)
	}
	pad := ""
	if n := p.lastLen - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	p.lastLen = len(line)
	fmt.Fprint(p.out, "\r"+line+pad)
}

func (p *progressBar) finish(label string) {
	if p.lastLen > 0 {
		fmt.Fprintf(p.out, "\r%s%s\n", label, strings.Repeat(" ", p.lastLen))
		p.lastLen = 0
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
