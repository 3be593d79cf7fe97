# install.cmake - `make install` and `make deb` (included by CMakeLists.txt).
# Installs the binary, the systemd unit, /etc/kurier/kurier.toml (only when there is none: an edited file
# is never replaced), kurier-setup (the system user, /var/lib/kurier and the first `kurier init`) and the
# README. DESTDIR and CMAKE_INSTALL_PREFIX (make install PREFIX=...) are honoured. The unit, the setup
# script and the maintainer scripts are written at install time, since the prefix is known only then
# (CPack installs with /usr).
include(GNUInstallDirs)
set(KURIER_CONFIG_DIR "/etc/kurier" CACHE PATH "Where kurier.toml is installed")
set(KURIER_DATA_DIR "/var/lib/kurier" CACHE PATH "The service's data directory (server.data_dir)")

install(TARGETS kurier RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(CODE "
  set(KURIER_SOURCE_DIR \"${CMAKE_SOURCE_DIR}\")
  set(KURIER_BINARY_DIR \"${CMAKE_BINARY_DIR}\")
  set(KURIER_BUILT_BIN \"$<TARGET_FILE:kurier>\")
  set(KURIER_CONFIG_DIR \"${KURIER_CONFIG_DIR}\")
  set(KURIER_DATA_DIR \"${KURIER_DATA_DIR}\")
  set(KURIER_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(KURIER_LIBEXECDIR \"${CMAKE_INSTALL_LIBEXECDIR}\")
  set(KURIER_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")
")
install(SCRIPT ${CMAKE_SOURCE_DIR}/packaging/install_files.cmake)

# make deb: build/kurier_VERSION_ARCH.deb. Depends from dpkg-shlibdeps; the maintainer scripts are written
# by install_files.cmake into the build directory (packaging/debian/).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME kurier)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "kurier maintainers <root@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "self-hosted email delivery platform")
set(CPACK_PACKAGE_DESCRIPTION "kurier accepts mail over SMTP submission and an HTTP JSON API, signs it with DKIM, delivers
it with retries and fail-over to backup relays, and records what happened to every message (events,
webhooks, bounces, suppressions). It runs as the systemd service kurier.service.")
# Installed with DESTDIR (so that /etc/kurier and /lib/systemd/system land in the package) and prefix /usr.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")  # useradd/groupadd (joined with the shared libraries' packages)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_BINARY_DIR}/packaging/debian/postinst ${CMAKE_BINARY_DIR}/packaging/debian/prerm
  ${CMAKE_BINARY_DIR}/packaging/debian/postrm ${CMAKE_BINARY_DIR}/packaging/debian/conffiles)
include(CPack)
