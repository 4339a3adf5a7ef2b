-- Disk scheduling (ops): the free space a node last reported on the file
-- system that holds its VM disks. NULL: not reported (an older agent), and
-- the scheduler checks only the node's disk size, if known. Not part of
-- the nodes notify trigger: it changes with every heartbeat, and the
-- reconciler's periodic pass sees it.
ALTER TABLE nodes ADD COLUMN disk_free_mib integer CHECK (disk_free_mib >= 0);

-- The size of the root disk a node built from the image, as nodes report
-- it when an instance boots (the largest report); 0: none yet, and the
-- scheduler counts the operator's --instance-disk-mib.
ALTER TABLE images ADD COLUMN disk_mib integer NOT NULL DEFAULT 0 CHECK (disk_mib >= 0);
