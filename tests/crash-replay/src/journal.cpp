// SPDX-License-Identifier: GPL-2.0
#include "journal.h"

#include "common.h"

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace lw {

Journal Journal::parse(const std::string &text)
{
	Journal j;
	std::istringstream in(text);
	std::string line;
	if (!std::getline(in, line))
		fail("journal: empty");
	{
		std::istringstream h(line);
		std::string magic, kw;
		int ver = 0;
		if (!(h >> magic >> ver >> kw >> j.blocks) || magic != "wc-crashload-journal" ||
		    ver != 1 || kw != "blocks" || !j.blocks)
			fail("journal: bad header '%s'", line.c_str());
	}
	size_t lineno = 1;
	while (std::getline(in, line)) {
		lineno++;
		if (line.empty())
			continue;
		std::istringstream l(line);
		JRec r;
		std::string t;
		l >> t;
		bool ok = t.size() == 1;
		if (ok) {
			r.type = t[0];
			switch (r.type) {
			case 'W':
			case 'D':
				ok = static_cast<bool>(l >> r.op >> r.block >> r.count) && r.count &&
				     r.block + r.count <= j.blocks;
				break;
			case 'C':
				ok = static_cast<bool>(l >> r.op);
				break;
			case 'M': {
				std::string a;
				ok = static_cast<bool>(l >> r.op >> a >> r.arg) && a.size() == 1 &&
				     (a[0] == 'F' || a[0] == 'U');
				if (ok)
					r.ack = a[0];
				break;
			}
			case 'E':
				break;
			default:
				ok = false;
			}
			std::string extra;
			if (ok && (l >> extra))
				ok = false;
		}
		if (!ok)
			fail("journal line %zu: bad record '%s'", lineno, line.c_str());
		j.recs.push_back(r);
	}
	return j;
}

Journal Journal::load(const std::string &path)
{
	std::ifstream f(path);
	if (!f)
		fail_errno("open journal %s", path.c_str());
	std::stringstream ss;
	ss << f.rdbuf();
	return parse(ss.str());
}

std::string Journal::text() const
{
	std::string s = strf("wc-crashload-journal 1 blocks %llu\n", (unsigned long long)blocks);
	for (const JRec &r : recs) {
		switch (r.type) {
		case 'W':
		case 'D':
			s += strf("%c %llu %llu %llu\n", r.type, (unsigned long long)r.op,
				  (unsigned long long)r.block, (unsigned long long)r.count);
			break;
		case 'C':
			s += strf("C %llu\n", (unsigned long long)r.op);
			break;
		case 'M':
			s += strf("M %llu %c %llu\n", (unsigned long long)r.op, r.ack,
				  (unsigned long long)r.arg);
			break;
		case 'E':
			s += "E\n";
			break;
		}
	}
	return s;
}

uint64_t JournalWriter::submit(char type, uint64_t block, uint64_t count)
{
	std::lock_guard<std::mutex> g(mu_);
	JRec r;
	r.type = type;
	r.op = next_op_++;
	r.block = block;
	r.count = count;
	j_.recs.push_back(r);
	return r.op;
}

void JournalWriter::done(uint64_t op)
{
	std::lock_guard<std::mutex> g(mu_);
	JRec r;
	r.type = 'C';
	r.op = op;
	j_.recs.push_back(r);
}

uint64_t JournalWriter::position()
{
	std::lock_guard<std::mutex> g(mu_);
	return j_.recs.size();
}

void JournalWriter::end()
{
	std::lock_guard<std::mutex> g(mu_);
	JRec r;
	r.type = 'E';
	j_.recs.push_back(r);
}

uint64_t JournalWriter::marks()
{
	std::lock_guard<std::mutex> g(mu_);
	return marks_;
}

void JournalWriter::save(const std::string &path)
{
	std::string text;
	{
		std::lock_guard<std::mutex> g(mu_);
		text = j_.text();
	}
	FILE *f = fopen(path.c_str(), "w");
	if (!f)
		fail_errno("create journal %s", path.c_str());
	bool ok = fwrite(text.data(), 1, text.size(), f) == text.size();
	ok = (fclose(f) == 0) && ok;
	if (!ok)
		fail_errno("write journal %s", path.c_str());
}

} // namespace lw
