package practice

import "errors"

var (
	// ErrInvalidScript is wrapped by every error about a script or pace
	// file: bad JSON, a missing or wrong field. The error names the file
	// and the field.
	ErrInvalidScript = errors.New("invalid practice script")
	// ErrNotFound means no script or pace has that name.
	ErrNotFound = errors.New("not found")
	// ErrInvalidConfig means a Crowd's Config cannot work (no room URL, a
	// negative speed).
	ErrInvalidConfig = errors.New("invalid crowd config")
)

// FileError is an error in one script or pace file. Callers that show it
// to a tutor can point at File and Field.
type FileError struct {
	File  string // the file's path in its file system
	Field string // the JSON path of the bad field ("lines.price[2]"); "" for the whole file
	Msg   string
}

func (e *FileError) Error() string {
	if e.Field == "" {
		return e.File + ": " + e.Msg
	}
	return e.File + ": " + e.Field + ": " + e.Msg
}

// Unwrap makes errors.Is(err, ErrInvalidScript) true.
func (e *FileError) Unwrap() error { return ErrInvalidScript }
