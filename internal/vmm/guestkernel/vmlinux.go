package guestkernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
)

// Offsets in the x86 boot protocol's setup header (Documentation/arch/x86/boot.rst).
const (
	offSetupSects    = 0x1f1
	offHeaderMagic   = 0x202
	offPayloadOffset = 0x248
	offPayloadLength = 0x24c
)

// xenElfnotePhys32Entry is the ELF note that marks the PVH entry point,
// which QEMU's microvm and Firecracker use to boot a vmlinux directly.
const xenElfnotePhys32Entry = 18

// extractVmlinux returns the uncompressed ELF kernel inside a bzImage. The
// payload's offset is relative to the protected-mode code, which starts after
// the real-mode setup sectors.
func extractVmlinux(bz []byte) ([]byte, error) {
	if len(bz) < offPayloadLength+4 || string(bz[offHeaderMagic:offHeaderMagic+4]) != "HdrS" {
		return nil, errors.New("extract vmlinux: not a bzImage")
	}
	setupSects := int(bz[offSetupSects])
	if setupSects == 0 {
		setupSects = 4 // the boot protocol's default
	}
	off := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(bz[offPayloadOffset:]))
	length := int(binary.LittleEndian.Uint32(bz[offPayloadLength:]))
	if off < 0 || length <= 0 || off+length > len(bz) {
		return nil, fmt.Errorf("extract vmlinux: payload %d+%d outside image of %d bytes", off, length, len(bz))
	}
	payload := bz[off : off+length]
	if len(payload) < 4 || binary.LittleEndian.Uint32(payload) != lz4LegacyMagic {
		return nil, errors.New("extract vmlinux: payload is not lz4 (legacy frame)")
	}
	vmlinux, err := decompressLZ4Legacy(payload)
	if err != nil {
		return nil, fmt.Errorf("extract vmlinux: %w", err)
	}
	if err := checkPVH(vmlinux); err != nil {
		return nil, fmt.Errorf("extract vmlinux: %w", err)
	}
	return vmlinux, nil
}

// checkPVH verifies that an ELF kernel carries the PVH entry note.
func checkPVH(vmlinux []byte) error {
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		return fmt.Errorf("parse elf: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		buf := make([]byte, p.Filesz)
		if _, err := p.ReadAt(buf, 0); err != nil {
			return fmt.Errorf("read note segment: %w", err)
		}
		if hasNote(buf, f.ByteOrder, "Xen", xenElfnotePhys32Entry) {
			return nil
		}
	}
	return errors.New("no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)")
}

// hasNote scans an ELF note segment for a note with the given owner and type.
func hasNote(buf []byte, bo binary.ByteOrder, owner string, typ uint32) bool {
	align := func(n uint32) int { return int((n + 3) &^ 3) }
	for len(buf) >= 12 {
		namesz, descsz, t := bo.Uint32(buf), bo.Uint32(buf[4:]), bo.Uint32(buf[8:])
		buf = buf[12:]
		if align(namesz) > len(buf) {
			return false
		}
		name := string(bytes.TrimRight(buf[:namesz], "\x00"))
		buf = buf[align(namesz):]
		if align(descsz) > len(buf) {
			return false
		}
		buf = buf[align(descsz):]
		if name == owner && t == typ {
			return true
		}
	}
	return false
}
