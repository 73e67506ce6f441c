// SPDX-License-Identifier: GPL-2.0
#include "dmmsg.h"

#include "common.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <vector>

namespace lw {

DmControl::DmControl()
{
	fd_ = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (fd_ < 0)
		fail_errno("open /dev/mapper/control");
}

DmControl::~DmControl()
{
	if (fd_ >= 0)
		close(fd_);
}

void DmControl::message(const std::string &name, const std::string &msg)
{
	if (name.empty() || name.size() >= DM_NAME_LEN)
		fail("dm message: bad device name '%s'", name.c_str());
	const size_t data_start = (sizeof(struct dm_ioctl) + 7) & ~size_t(7);
	const size_t len = data_start + sizeof(struct dm_target_msg) + msg.size() + 1;
	std::vector<uint8_t> buf((len + 7) & ~size_t(7));
	auto *io = reinterpret_cast<struct dm_ioctl *>(buf.data());
	// 4.0.0: any kernel with this ioctl; it answers with its own version.
	io->version[0] = DM_VERSION_MAJOR;
	io->version[1] = 0;
	io->version[2] = 0;
	io->data_size = static_cast<__u32>(buf.size());
	io->data_start = static_cast<__u32>(data_start);
	memcpy(io->name, name.c_str(), name.size() + 1);
	auto *tm = reinterpret_cast<struct dm_target_msg *>(buf.data() + data_start);
	tm->sector = 0;
	memcpy(tm->message, msg.c_str(), msg.size() + 1);
	if (ioctl(fd_, DM_TARGET_MSG, buf.data()) < 0)
		fail_errno("dm message %s '%s'", name.c_str(), msg.c_str());
}

} // namespace lw
