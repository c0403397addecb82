package serve_test

import (
	"errors"
	"net/http"
	"reflect"
	"testing"

	internal "github.com/dcrnn/dcrnn/internal/serve"
	"github.com/dcrnn/dcrnn/serve"
)

// TestOptionsMirrorInternal: the public Options has every field of the
// server's own options, with the same type, so none is unreachable from an
// embedding program (a new server option must be added here too).
func TestOptionsMirrorInternal(t *testing.T) {
	pub, in := reflect.TypeOf(serve.Options{}), reflect.TypeOf(internal.Options{})
	for i := range in.NumField() {
		f := in.Field(i)
		if !f.IsExported() {
			continue
		}
		g, ok := pub.FieldByName(f.Name)
		if !ok || g.Type != f.Type {
			t.Errorf("serve.Options lacks %s %v (has %v)", f.Name, f.Type, g.Type)
		}
	}
	if pub.NumField() > in.NumField() {
		t.Errorf("serve.Options has %d fields, the server %d", pub.NumField(), in.NumField())
	}
}

func TestReload(t *testing.T) {
	srv, err := serve.New("../testdata/census-small.dcrnn", serve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := srv.Model()
	m, err := srv.Reload("")
	if err != nil || m.Checksum != before.Checksum || !m.LoadedAt.After(before.LoadedAt) || len(m.Tasks) != 2 {
		t.Fatalf("reload of the same file: %+v %v (before %+v)", m, err, before)
	}
	_, err = srv.Reload("../testdata/nope.dcrnn")
	var re *serve.ReloadError
	if !errors.As(err, &re) || re.Status != http.StatusNotFound || re.Message == "" {
		t.Fatalf("reload of a missing file: %v (%+v), want a 404 *ReloadError", err, re)
	}
	_, err = srv.Reload("../internal/model/testdata/v0-funnel.dcrnn")
	if !errors.As(err, &re) || re.Code != "schema_changed" {
		t.Fatalf("reload of another schema: %v, want schema_changed", err)
	}
	if srv.Model().Checksum != before.Checksum {
		t.Errorf("a failed reload changed the model to %s", srv.Model().Checksum)
	}
}
