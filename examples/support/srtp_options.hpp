// --srtp, --srtp-suite, --key and --key-file, which the server and the client
// share: where the SRTP master key comes from, and keeping it secret on the
// way (docs/architecture.md, Packet protection; docs/robustness.md says what
// SRTP protects against and what it does not).
//
// A key is base64 of the master key and salt, as ffmpeg's -srtp_out_params
// and SDP's a=crypto write it. A key file holds that one line; one that
// others may read is used with a warning, since whoever reads it can listen
// and send as the stream. A server given a --key-file that does not exist
// makes a fresh key and writes it there, readable by its owner alone.
#pragma once

#include "support/build_features.hpp"
#include "support/example_error.hpp"
#include "support/small_file.hpp"
#include "support/untrusted_text.hpp"

#include <audiocast/protection/srtp_key.hpp>
#include <audiocast/wire/stream_description.hpp>

#include <CLI/CLI.hpp>

#include <sys/stat.h>
#if !defined(_WIN32)
#include <unistd.h>
#endif

#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

namespace audiocast_examples {

/// A key file is one line of base64; anything much larger is the wrong file.
inline constexpr std::size_t max_key_file_bytes = 1024;

/// Overwrites a key's text before its memory goes back, as srtp_key does
/// with the key itself.
inline void wipe(std::string& text) noexcept
{
    volatile char* p = text.data();
    for (std::size_t i = 0; i < text.size(); ++i)
        p[i] = 0;
}

struct srtp_options {
    bool enabled = false;
    std::string suite_text{
        audiocast::srtp_suite_name(audiocast::srtp_suite::aes_cm_128_hmac_sha1_80)};
    std::string key_text;
    std::string key_file;
    CLI::Option* enabled_option = nullptr;
    CLI::Option* suite_option = nullptr;
    CLI::Option* key_option = nullptr;
    CLI::Option* key_file_option = nullptr;

    void add_to(CLI::App& app, bool sender)
    {
        enabled_option = app.add_flag(
            "--srtp", enabled,
            sender ? "Protect the stream with SRTP (RFC 3711): listeners need the key, from "
                     "--key-file, --key or the SDP's a=crypto; without a key option a fresh "
                     "one is made, and only --sdp tells it"
                   : "The stream is protected with SRTP: play only what authenticates with the "
                     "key from --key-file or --key (implied by an SDP with a=crypto)");
        suite_option = app.add_option("--srtp-suite", suite_text,
                                      "The SRTP suite: AES_CM_128_HMAC_SHA1_80 (a 30-byte key) or "
                                      "AEAD_AES_128_GCM (28 bytes)")
                           ->check([](const std::string& t) -> std::string {
                               return audiocast::srtp_suite_named(t)
                                          ? std::string{}
                                          : "is not AES_CM_128_HMAC_SHA1_80 or AEAD_AES_128_GCM";
                           })
                           ->capture_default_str();
        key_option = app.add_option(
            "--key", key_text,
            "The SRTP master key and salt in base64 (other users can read a command line: "
            "prefer --key-file)");
        key_file_option = app.add_option(
            "--key-file", key_file,
            sender ? "Read the SRTP key (base64, one line) from this file, readable by its owner "
                     "alone; a file that does not exist is made with a fresh key"
                   : "Read the SRTP key (base64, one line) from this file, readable by its owner "
                     "alone");
        key_option->excludes(key_file_option);
    }

    [[nodiscard]] bool key_given() const noexcept
    {
        return key_option->count() != 0 || key_file_option->count() != 0;
    }

    [[nodiscard]] audiocast::srtp_suite suite() const
    {
        return *audiocast::srtp_suite_named(suite_text);
    }

    /// The key to protect the stream with, or none. `from_sdp` is the key an
    /// SDP description gave (the client's --sdp); a key option wins over it.
    [[nodiscard]] std::optional<audiocast::srtp_key>
    resolve(const char* program, bool sender,
            const std::optional<audiocast::stream_description::sdes_crypto>& from_sdp = {}) const
    {
        if (!enabled && !key_given() && !from_sdp) {
            if (suite_option->count() != 0) throw usage_error{"--srtp-suite is for --srtp"};
            return std::nullopt;
        }
        if (!enabled && key_given() && !from_sdp)
            throw usage_error{"--key and --key-file are for --srtp"};
        require(srtp_feature, enabled ? "--srtp" : "an SDP with a=crypto (an SRTP stream)");
        // The SDP says which suite the stream uses: a key option is read in
        // it, and a --srtp-suite that says otherwise is refused.
        audiocast::srtp_suite in_use = suite();
        if (from_sdp) {
            const auto described = audiocast::srtp_suite_named(from_sdp->suite);
            if (!described)
                throw example_error{"the SDP's a=crypto suite is not one audiocast takes"};
            if (suite_option->count() != 0 && *described != in_use)
                throw usage_error{"--srtp-suite " + suite_text +
                                  " disagrees with the SDP, whose "
                                  "a=crypto says " +
                                  from_sdp->suite};
            in_use = *described;
        }
        if (key_option->count() != 0) {
            std::cerr << program
                      << ": warning: --key puts the SRTP key on the command line, where other "
                         "users of this host can read it; --key-file keeps it in a file only "
                         "you can read"
                      << std::endl;
            return parse(key_text, "--key", in_use);
        }
        if (key_file_option->count() != 0) {
            if (sender)
                if (auto made = create_key_file(program)) return std::move(*made);
            return read_key_file(program, in_use);
        }
        if (from_sdp) {
            std::string why;
            std::error_code ec;
            auto key = audiocast::srtp_key::from_base64(in_use, from_sdp->key, ec, &why);
            if (ec) throw example_error{"the SDP's a=crypto key: " + why};
            return key;
        }
        if (!sender)
            throw usage_error{"--srtp needs the key: --key-file, --key, or --sdp with a=crypto"};
        return audiocast::srtp_key::generate(suite());
    }

private:
    [[nodiscard]] static audiocast::srtp_key parse(std::string_view text, const std::string& where,
                                                   audiocast::srtp_suite in_use)
    {
        // One trailing line end, as an editor or `echo` leaves it.
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
            text.remove_suffix(1);
        std::error_code ec;
        std::string why;
        auto key = audiocast::srtp_key::from_base64(in_use, text, ec, &why);
        if (ec) throw usage_error{where + ": " + why};
        return key;
    }

    [[nodiscard]] audiocast::srtp_key read_key_file(const char* program,
                                                    audiocast::srtp_suite in_use) const
    {
        const std::string shown = "'" + printable(key_file, max_path_chars) + "'";
#if !defined(_WIN32) // who may read a file is POSIX's owner and mode here, ACLs on Windows
        struct ::stat st{};
        if (::stat(key_file.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid != ::geteuid())
            std::cerr << program << ": warning: the key file " << shown
                      << " belongs to another user, who can read it and change the key"
                      << std::endl;
        if (::stat(key_file.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
            std::cerr << program << ": warning: the key file " << shown << " has mode " << mode
                      << ": others may read it, and whoever does can listen and send as the "
                         "stream (chmod 600 it)"
                      << std::endl;
        }
#else
        (void)program;
#endif
        std::string text = read_small_file(key_file, max_key_file_bytes, "an SRTP key");
        try {
            auto key = parse(text, "--key-file " + shown, in_use);
            wipe(text);
            return key;
        } catch (...) {
            wipe(text);
            throw;
        }
    }

    // A fresh key in a new file, or nullopt where the file exists (and is
    // then read). Made with O_EXCL | O_NOFOLLOW in one step: no test then
    // create for another user to slip a link or a file into.
    [[nodiscard]] std::optional<audiocast::srtp_key> create_key_file(const char* program) const
    {
        const std::string shown = "'" + printable(key_file, max_path_chars) + "'";
        const int fd = file_calls::create_new(key_file, 0600);
        if (fd < 0 && errno == EEXIST) return std::nullopt;
        if (fd < 0) {
            const int error = errno;
            throw example_error{"cannot make the key file " + shown + ": " + std::strerror(error)};
        }
        auto key = audiocast::srtp_key::generate(suite());
        std::string line = key.base64(); // no temporary copy left unwiped
        line += '\n';
        int error = write_all(fd, line);
        if (error == 0 && file_calls::sync(fd) != 0) error = errno;
        if (file_calls::close(fd) != 0 && error == 0) error = errno;
        wipe(line);
        if (error != 0) {
            file_calls::remove(key_file);
            throw example_error{"cannot write the key file " + shown + ": " + std::strerror(error)};
        }
        std::cerr << program << ": made a fresh " << audiocast::srtp_suite_name(suite())
                  << " key in " << shown << " (readable by you alone); give listeners a copy"
                  << std::endl;
        return key;
    }
};

} // namespace audiocast_examples
