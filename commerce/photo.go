package commerce

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // decodes GIF uploads
	"image/jpeg"
	_ "image/png" // decodes PNG uploads
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
)

// PhotoStore keeps product photos by key. Keys are clean relative paths
// (see cleanPhotoKey) chosen by the server, never by a client. The local
// folder (DirPhotos) is the default; an S3/MinIO one can take its place.
type PhotoStore interface {
	// Put stores data under key, replacing what was there.
	Put(ctx context.Context, key string, data []byte, contentType string) error
	// Open returns the photo stored under key, or an error wrapping
	// ErrNotFound. The caller closes it.
	Open(ctx context.Context, key string) (StoredPhoto, error)
	// Delete removes the photo stored under key; a missing one is no error.
	Delete(ctx context.Context, key string) error
}

// StoredPhoto is a photo read back from a PhotoStore.
type StoredPhoto struct {
	io.ReadSeekCloser
	ContentType string
	ModTime     time.Time
}

// DirPhotos is a PhotoStore in a local folder. Files are opened through
// an os.Root, so no key, however crafted, reaches outside the folder.
//
// It is safe for concurrent use. Close it when done.
type DirPhotos struct {
	root *os.Root
}

// OpenDirPhotos opens (creating it if needed) the folder dir as a
// PhotoStore.
func OpenDirPhotos(dir string) (*DirPhotos, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open photo folder: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open photo folder: %w", err)
	}
	return &DirPhotos{root: root}, nil
}

// Close releases the folder.
func (d *DirPhotos) Close() error { return d.root.Close() }

// Put writes data to a temporary file and renames it over key, so that a
// reader never sees half a photo.
func (d *DirPhotos) Put(ctx context.Context, key string, data []byte, contentType string) error {
	if err := checkStoredPhotoKey(key); err != nil {
		return fmt.Errorf("put photo: %w", err)
	}
	if want := photoContentType(key); want != contentType {
		return fmt.Errorf("put photo %q: %w: content type %q, the key says %q", key, ErrInvalid, contentType, want)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put photo: %w", err)
	}
	if dir := path.Dir(key); dir != "." {
		if err := d.root.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("put photo: %w", err)
		}
	}
	tmp := key + ".tmp-" + rand.Text()
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("put photo: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.root.Rename(tmp, key)
	}
	if err != nil {
		_ = d.root.Remove(tmp)
		return fmt.Errorf("put photo: %w", err)
	}
	return nil
}

// Open opens the photo stored under key.
func (d *DirPhotos) Open(ctx context.Context, key string) (StoredPhoto, error) {
	if err := checkStoredPhotoKey(key); err != nil {
		return StoredPhoto{}, fmt.Errorf("open photo: %w", err)
	}
	f, err := d.root.Open(key)
	if err != nil {
		// Missing, or a link leading out of the folder (which os.Root
		// refuses): either way there is no such photo here.
		var pe *fs.PathError
		if errors.Is(err, fs.ErrNotExist) || errors.As(err, &pe) {
			return StoredPhoto{}, fmt.Errorf("open photo %q: %w (%v)", key, ErrNotFound, err)
		}
		return StoredPhoto{}, fmt.Errorf("open photo: %w", err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("photo %q: %w", key, ErrNotFound)
	}
	if err != nil {
		f.Close()
		return StoredPhoto{}, fmt.Errorf("open photo: %w", err)
	}
	return StoredPhoto{ReadSeekCloser: f, ContentType: photoContentType(key), ModTime: st.ModTime()}, nil
}

// Delete removes the photo stored under key, if any.
func (d *DirPhotos) Delete(ctx context.Context, key string) error {
	if err := checkStoredPhotoKey(key); err != nil {
		return fmt.Errorf("delete photo: %w", err)
	}
	if err := d.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete photo: %w", err)
	}
	return nil
}

// checkStoredPhotoKey returns an error wrapping ErrInvalid unless key is a
// clean photo key (cleanPhotoKey) naming a JPEG or PNG file.
func checkStoredPhotoKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty photo key", ErrInvalid)
	}
	if _, err := cleanPhotoKey(key); err != nil {
		return err
	}
	if photoContentType(key) == "" {
		return fmt.Errorf("%w: photo key %q must end in .jpg or .png", ErrInvalid, key)
	}
	return nil
}

// photoContentType returns the content type a photo key's extension names,
// or "".
func photoContentType(key string) string {
	switch {
	case strings.HasSuffix(key, ".jpg"):
		return "image/jpeg"
	case strings.HasSuffix(key, ".png"):
		return "image/png"
	}
	return ""
}

// Sizes of the photos made from an upload: phones show products at most
// about 1080 pixels wide, and lists use thumbnails.
const (
	photoMaxSide   = 1080
	thumbMaxSide   = 320
	photoQuality   = 82
	photoMaxPixels = 40_000_000 // refused before decoding: a decoded image takes 4 bytes a pixel
	photoMaxBytes  = 10 << 20
)

// Errors of photo processing, wrapping ErrInvalid.
var (
	errNotImage   = fmt.Errorf("%w: not a JPEG, PNG or GIF image", ErrInvalid)
	errImageHuge  = fmt.Errorf("%w: image has more than %d pixels", ErrInvalid, photoMaxPixels)
	errImageEmpty = fmt.Errorf("%w: image is empty", ErrInvalid)
)

// processedPhoto is an upload made ready for phones.
type processedPhoto struct {
	full, thumb []byte // JPEG
	fullSize    image.Point
	thumbSize   image.Point
}

// processPhoto decodes an uploaded JPEG, PNG or GIF, turns it upright by
// its EXIF orientation, and encodes a JPEG of at most photoMaxSide pixels
// on its longest side and a thumbnail of at most thumbMaxSide. Transparent
// parts become white. Its size is checked from the header before the image
// is decoded.
func processPhoto(data []byte) (processedPhoto, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return processedPhoto{}, errNotImage
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return processedPhoto{}, errImageEmpty
	}
	if int64(cfg.Width)*int64(cfg.Height) > photoMaxPixels {
		return processedPhoto{}, errImageHuge
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return processedPhoto{}, fmt.Errorf("%w: %v", errNotImage, err)
	}
	orient := 1
	if format == "jpeg" {
		orient = jpegOrientation(data)
	}
	full := orientImage(downscale(img, photoMaxSide), orient)
	thumb := orientImage(downscale(full, thumbMaxSide), 1)
	var p processedPhoto
	if p.full, err = encodeJPEG(full); err != nil {
		return processedPhoto{}, err
	}
	if p.thumb, err = encodeJPEG(thumb); err != nil {
		return processedPhoto{}, err
	}
	p.fullSize, p.thumbSize = full.Bounds().Size(), thumb.Bounds().Size()
	return p, nil
}

func encodeJPEG(img image.Image) ([]byte, error) {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: photoQuality}); err != nil {
		return nil, fmt.Errorf("encode jpeg: %w", err)
	}
	return b.Bytes(), nil
}

// downscale returns img on a white background, shrunk by area averaging
// so that its longest side is at most maxSide. Each destination pixel is
// the mean of the source pixels it covers, which keeps fine detail from
// turning into moiré the way point sampling does.
func downscale(img image.Image, maxSide int) *image.RGBA {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dw, dh := sw, sh
	if m := max(sw, sh); m > maxSide {
		dw = max(1, (sw*maxSide+m/2)/m)
		dh = max(1, (sh*maxSide+m/2)/m)
	}
	src := image.NewRGBA(image.Rect(0, 0, sw, sh))
	draw.Draw(src, src.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(src, src.Bounds(), img, b.Min, draw.Over)
	if dw == sw && dh == sh {
		return src
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	// Source columns [x0[x], x0[x+1]) make destination column x.
	x0 := make([]int, dw+1)
	for x := range x0 {
		x0[x] = x * sw / dw
	}
	sums := make([]uint64, dw*3)
	for y := 0; y < dh; y++ {
		clear(sums)
		ya, yb := y*sh/dh, (y+1)*sh/dh
		for sy := ya; sy < yb; sy++ {
			row := src.Pix[sy*src.Stride:]
			for x := 0; x < dw; x++ {
				var r, g, bl uint64
				for sx := x0[x]; sx < x0[x+1]; sx++ {
					p := row[sx*4:]
					r, g, bl = r+uint64(p[0]), g+uint64(p[1]), bl+uint64(p[2])
				}
				sums[x*3], sums[x*3+1], sums[x*3+2] = sums[x*3]+r, sums[x*3+1]+g, sums[x*3+2]+bl
			}
		}
		out := dst.Pix[y*dst.Stride:]
		for x := 0; x < dw; x++ {
			n := uint64((yb - ya) * (x0[x+1] - x0[x]))
			out[x*4] = uint8((sums[x*3] + n/2) / n)
			out[x*4+1] = uint8((sums[x*3+1] + n/2) / n)
			out[x*4+2] = uint8((sums[x*3+2] + n/2) / n)
			out[x*4+3] = 0xff
		}
	}
	return dst
}

// orientImage returns img turned upright from EXIF orientation o (1 to 8):
// the stored pixels are shown rotated and/or mirrored by the camera's tag.
func orientImage(img *image.RGBA, o int) *image.RGBA {
	if o < 2 || o > 8 {
		return img
	}
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2: // mirrored
				dx, dy = w-1-x, y
			case 3: // rotated 180°
				dx, dy = w-1-x, h-1-y
			case 4: // mirrored vertically
				dx, dy = x, h-1-y
			case 5: // transposed
				dx, dy = y, x
			case 6: // rotate 90° clockwise to show
				dx, dy = h-1-y, x
			case 7: // transversed
				dx, dy = h-1-y, w-1-x
			case 8: // rotate 90° counter-clockwise to show
				dx, dy = y, w-1-x
			}
			copy(dst.Pix[dy*dst.Stride+dx*4:dy*dst.Stride+dx*4+4], img.Pix[y*img.Stride+x*4:])
		}
	}
	return dst
}

// jpegOrientation returns the EXIF orientation tag (1 to 8) of a JPEG, or
// 1 if it has none or it cannot be read.
func jpegOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xFF {
			return 1
		}
		marker := data[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // start of scan, end: no EXIF before the image data
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return 1
		}
		seg := data[i+4 : i+2+n]
		if marker == 0xE1 && len(seg) > 6 && string(seg[:6]) == "Exif\x00\x00" {
			return exifOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 1
}

// exifOrientation reads the orientation tag (0x0112) from IFD0 of a TIFF
// structure.
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 1
	}
	count := int(bo.Uint16(t[off:]))
	for e := 0; e < count; e++ {
		p := off + 2 + 12*e
		if p+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[p:]) == 0x0112 && bo.Uint16(t[p+2:]) == 3 { // SHORT
			if v := int(bo.Uint16(t[p+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 1
		}
	}
	return 1
}

// newPhotoKeys returns fresh keys for a photo of kind ("products" for a
// product's, "channels" for the stall's) of a channel, and its thumbnail.
// The random part makes a key unguessable and never reused, so the photo
// can be cached forever.
func newPhotoKeys(kind string, channelID int64) (full, thumb string) {
	base := fmt.Sprintf("%s/%d/%s", kind, channelID, strings.ToLower(rand.Text()))
	return base + ".jpg", thumbPhotoKey(base + ".jpg")
}

// thumbPhotoKey returns the key of the thumbnail of the photo with key.
func thumbPhotoKey(key string) string {
	return strings.TrimSuffix(key, ".jpg") + "_320.jpg"
}
