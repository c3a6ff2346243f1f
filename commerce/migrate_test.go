package commerce

import (
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	file := func(sql string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(sql)} }
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []string // version_name of each migration, in order
		wantErr string
	}{
		{
			name: "ordered",
			files: fstest.MapFS{
				"m/0002_products.sql": file("B"),
				"m/0001_channels.sql": file("A"),
				"m/README.md":         file("not a migration"),
			},
			want: []string{"1_channels", "2_products"},
		},
		{"empty", fstest.MapFS{"m/README.md": file("")}, nil, "no migrations"},
		{"missing dir", fstest.MapFS{}, nil, "load migrations"},
		{"gap", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0003_c.sql": file("C")}, nil, "expected version 2"},
		{"duplicate", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0001_b.sql": file("B")}, nil, "expected version 2"},
		{"starts at 2", fstest.MapFS{"m/0002_a.sql": file("A")}, nil, "expected version 1"},
		{"no name", fstest.MapFS{"m/0001.sql": file("A")}, nil, "0001_name.sql"},
		{"no number", fstest.MapFS{"m/first_a.sql": file("A")}, nil, "0001_name.sql"},
		{"zero", fstest.MapFS{"m/0000_a.sql": file("A")}, nil, "0001_name.sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := loadMigrations(tt.files, "m")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadMigrations: %v", err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, strconv.Itoa(m.version)+"_"+m.name)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("migrations = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestEmbeddedMigrations checks that every dialect's embedded migrations
// load and that the dialects have the same versions with the same names.
func TestEmbeddedMigrations(t *testing.T) {
	var names [][]string
	for _, d := range []dialect{dialectSQLite, dialectPostgres} {
		ms, err := loadMigrations(migrationFiles, "migrations/"+d.String())
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, m := range ms {
			n = append(n, strconv.Itoa(m.version)+"_"+m.name)
		}
		names = append(names, n)
	}
	if strings.Join(names[0], ",") != strings.Join(names[1], ",") {
		t.Errorf("sqlite migrations %v differ from postgres migrations %v", names[0], names[1])
	}
}

// openRawSQLite opens a fresh SQLite database without migrating it.
func openRawSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "raw.db")))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrateFailureChangesNothing(t *testing.T) {
	db := openRawSQLite(t)
	good := migration{version: 1, name: "a", sql: `CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE TABLE a2 (id INTEGER PRIMARY KEY);`}
	bad := migration{version: 2, name: "b", sql: `CREATE TABLE b (id INTEGER PRIMARY KEY); THIS IS NOT SQL;`}

	err := migrate(t.Context(), db, dialectSQLite, []migration{good, bad})
	if err == nil || !strings.Contains(err.Error(), "0002_b") {
		t.Fatalf("migrate: err = %v, want a failure naming 0002_b", err)
	}
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM sqlite_master WHERE name IN ('a', 'a2', 'b', 'schema_migrations')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d tables left behind by a failed migration, want 0", n)
	}

	// Once fixed, it applies; applied again, it is a no-op.
	bad.sql = `CREATE TABLE b (id INTEGER PRIMARY KEY);`
	for i := range 2 {
		if err := migrate(t.Context(), db, dialectSQLite, []migration{good, bad}); err != nil {
			t.Fatalf("migrate run %d: %v", i, err)
		}
	}
	// Every statement of a multi-statement migration ran.
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM sqlite_master WHERE name IN ('a', 'a2', 'b')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("%d of 3 tables created, want all", n)
	}
	var versions []int
	rows, err := db.QueryContext(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if !slices.Equal(versions, []int{1, 2}) {
		t.Errorf("schema versions = %v, want [1 2]", versions)
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	db := openRawSQLite(t)
	ms := []migration{
		{version: 1, name: "a", sql: `CREATE TABLE a (id INTEGER PRIMARY KEY)`},
		{version: 2, name: "b", sql: `CREATE TABLE b (id INTEGER PRIMARY KEY)`},
	}
	if err := migrate(t.Context(), db, dialectSQLite, ms); err != nil {
		t.Fatal(err)
	}
	err := migrate(t.Context(), db, dialectSQLite, ms[:1])
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("migrate with fewer migrations: err = %v, want a refusal", err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Errorf("a newer schema is not invalid input: %v", err)
	}
}
