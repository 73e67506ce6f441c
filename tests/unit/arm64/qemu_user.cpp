// SPDX-License-Identifier: GPL-2.0
// Linked into the arm64 unit tests only; they run under qemu-user.
#include <unistd.h>

#include <cstdlib>
#include <cstring>

// LeakSanitizer needs to stop the world with ptrace, which qemu-user does
// not provide. ASan's other checks work, so only leak detection is off.
extern "C" const char *__asan_default_options();
extern "C" const char *__asan_default_options()
{
	return "detect_leaks=0";
}

// GoogleTest's "threadsafe" death tests re-exec the test binary. Without
// binfmt_misc the host kernel cannot run an arm64 binary, but qemu-user
// passes execve through, so exec the emulator instead: WC_QEMU_EXEC holds
// its command line (set by tests/unit/arm64/CMakeLists.txt). No heap use:
// this runs in a freshly cloned child.
extern "C" int execv(const char *path, char *const argv[]) noexcept
{
	static char cmd[512];
	char *args[64];
	size_t n = 0;
	const char *q = std::getenv("WC_QEMU_EXEC");

	if (!q || !*q || std::strlen(q) >= sizeof(cmd))
		return execve(path, argv, environ);
	std::strcpy(cmd, q);
	for (char *w = std::strtok(cmd, " "); w && n < 32; w = std::strtok(nullptr, " "))
		args[n++] = w;
	args[n++] = const_cast<char *>(path);
	for (size_t i = 1; argv[i] && n < 63; i++)
		args[n++] = argv[i];
	args[n] = nullptr;
	return execve(args[0], args, environ);
}
