# install_files.cmake - the install-time part of install.cmake: files whose contents depend on the
# prefix (CMAKE_INSTALL_PREFIX here is the one installed to: make install PREFIX=..., or /usr for CPack).
# file(INSTALL) puts every absolute destination under $ENV{DESTDIR}.
set(prefix "${CMAKE_INSTALL_PREFIX}")
set(KURIER_BIN "${prefix}/${KURIER_BINDIR}/kurier")
set(KURIER_CONFIG_FILE "${KURIER_CONFIG_DIR}/kurier.toml")
set(KURIER_CREDENTIALS "${KURIER_CONFIG_DIR}/initial-credentials")
set(KURIER_SETUP "${prefix}/${KURIER_LIBEXECDIR}/kurier/kurier-setup")
set(KURIER_DOC_DIR "${prefix}/${KURIER_DOCDIR}")
# Debian 12 keeps its packages' units in /lib/systemd/system; systemd also reads /usr/local/lib/systemd/system.
if(prefix STREQUAL "/usr")
  set(unit_dir "/lib/systemd/system")
else()
  set(unit_dir "${prefix}/lib/systemd/system")
endif()
if(KURIER_DATA_DIR MATCHES "^/var/lib/(.+)$")
  set(KURIER_STATE_DIRECTORY_LINE "StateDirectory=${CMAKE_MATCH_1}")
else()
  set(KURIER_STATE_DIRECTORY_LINE "# (no StateDirectory=: the data directory is outside /var/lib)")
endif()

set(out "${KURIER_BINARY_DIR}/packaging")
configure_file("${KURIER_SOURCE_DIR}/packaging/kurier.service.in" "${out}/kurier.service" @ONLY)
configure_file("${KURIER_SOURCE_DIR}/packaging/kurier-setup.in" "${out}/kurier-setup" @ONLY)
foreach(script postinst prerm postrm conffiles)
  configure_file("${KURIER_SOURCE_DIR}/packaging/debian/${script}.in" "${out}/debian/${script}" @ONLY)
endforeach()
file(CHMOD "${out}/debian/postinst" "${out}/debian/prerm" "${out}/debian/postrm" PERMISSIONS
     OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
file(CHMOD "${out}/debian/conffiles" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# The configuration: kurier's own commented template, the data apart from it and the SMTP listeners on
# the standard ports of loopback (open them with 0.0.0.0:587 / 0.0.0.0:465 once server.hostname is set).
execute_process(COMMAND "${KURIER_BUILT_BIN}" config template --set "server.data_dir=\"${KURIER_DATA_DIR}\""
                        --set "smtp.submission.listen=\"127.0.0.1:587\"" --set "smtp.submissions.listen=\"127.0.0.1:465\""
                OUTPUT_FILE "${out}/kurier.toml" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "kurier config template failed (${rc})")
endif()

file(INSTALL "${out}/kurier.service" DESTINATION "${unit_dir}"
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL "${out}/kurier-setup" DESTINATION "${prefix}/${KURIER_LIBEXECDIR}/kurier"
     PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
if(EXISTS "$ENV{DESTDIR}${KURIER_CONFIG_FILE}")
  message(STATUS "Kept: $ENV{DESTDIR}${KURIER_CONFIG_FILE} (the new default is ${out}/kurier.toml)")
else()
  # root:kurier 0640 is set by kurier-setup (and dpkg-statoverride in the package), once the group exists.
  file(INSTALL "${out}/kurier.toml" DESTINATION "${KURIER_CONFIG_DIR}" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
endif()
