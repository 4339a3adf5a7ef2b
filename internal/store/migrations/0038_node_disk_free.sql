-- Disk scheduling (ops): the free space a node last reported on the file
-- system that holds its VM disks. NULL: not reported (an older agent), and
-- the scheduler checks only the node's disk size, if known. Not part of
-- the nodes notify trigger: it changes with every heartbeat, and the
-- reconciler's periodic pass sees it.
ALTER TABLE nodes ADD COLUMN disk_free_mib integer CHECK (disk_free_mib >= 0);
