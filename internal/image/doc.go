// Package image turns OCI images into ext4 root disks for microVMs.
//
// The path of an image through this package:
//
//  1. Resolve finds a v1.Image from a registry reference, an OCI image
//     layout directory or an image archive (docker save or OCI layout tar).
//  2. Flatten applies the image's layers, bottom to top, into a directory,
//     honouring whiteouts. Layers are untrusted input, so every path is
//     resolved with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) relative to
//     a directory file descriptor of the root, and the last component is
//     always created with O_EXCL/O_NOFOLLOW-style *at calls: a symlink planted
//     by an earlier entry or layer is resolved as if the root were "/", so
//     nothing is ever written outside the tree.
//  3. BuildExt4 runs mkfs.ext4 -d over the directory: no mounting, no loop
//     devices, and the result is a sparse file.
//  4. Store caches the disk by image digest (<cache>/<digest>.ext4, built once
//     under a file lock and renamed into place) and gives each VM its own
//     writable copy, by reflink where the filesystem can, else a sparse copy.
//     A cached disk goes to a registry reference only if its repository
//     served the layers and the registry confirms the manifest to the
//     caller's credentials (provenance.go).
//
// FromFiles and WriteLayout build small single-layer images from files, which
// the tests and the bundled sample app use since no base image can be pulled.
package image
