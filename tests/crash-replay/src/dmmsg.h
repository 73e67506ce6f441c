// SPDX-License-Identifier: GPL-2.0
// "dmsetup message DEV 0 MSG" without forking dmsetup: the DM_TARGET_MSG
// ioctl on /dev/mapper/control (a mark has to go in while other threads
// keep writing, within a few microseconds of the acknowledgement).
#pragma once

#include <string>

namespace lw {

class DmControl {
public:
	DmControl();
	~DmControl();
	DmControl(const DmControl &) = delete;
	DmControl &operator=(const DmControl &) = delete;

	// Sends MSG to the target at sector 0 of the mapped device NAME.
	void message(const std::string &name, const std::string &msg);

private:
	int fd_ = -1;
};

} // namespace lw
