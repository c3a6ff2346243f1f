package commerce

import (
	"testing"

	"github.com/dangol/dangol/internal/pgtest"
)

// The PostgreSQL tests run against a real server that internal/pgtest
// provides: the developer's (DANGOL_TEST_DATABASE_URL) or a throwaway
// cluster started once per test binary and stopped at its end. Every test
// gets a fresh database. Without one the tests skip with a reason, or fail
// when DANGOL_TEST_STRICT=1.

func TestMain(m *testing.M) { pgtest.Main(m) }

// pgTestServer is the server the tests use and the way to give each test a
// database of its own.
type pgTestServer struct{ *pgtest.Server }

// testPostgres returns the server, starting it on first use, or skips or
// fails t when there is none.
func testPostgres(t testing.TB) pgTestServer {
	t.Helper()
	return pgTestServer{pgtest.Start(t)}
}

// newDatabase creates an empty database and returns its URL.
func (p pgTestServer) newDatabase(t testing.TB) string {
	t.Helper()
	return p.NewDatabase(t)
}

// newPostgresDB returns an opener for a fresh PostgreSQL database.
func newPostgresDB(t *testing.T) storeOpener {
	dsn := testPostgres(t).newDatabase(t)
	return func(t *testing.T) *Store {
		t.Helper()
		s, err := OpenPostgres(t.Context(), dsn)
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
}
