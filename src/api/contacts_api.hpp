// contacts_api.hpp - what the contact routes share (contacts_api.cpp, contacts_import_api.cpp,
// lists_api.cpp): a contact's JSON form and the route groups.
#pragma once
#include <memory>

#include <boost/json/object.hpp>

#include "store/audience.hpp"

namespace kurier::api {

class Router;
struct ApiContext;

/// A contact as the API shows it: id, address, name, attributes, status, times, and its lists with their
/// consent records when read one by one.
boost::json::object ContactView(const store::Contact& c);
/// POST /v1/contacts/import (CSV), GET /v1/contacts/export (CSV): contacts_import_api.cpp.
void AddContactImportRoutes(Router& router, const std::shared_ptr<ApiContext>& ctx);

}  // namespace kurier::api
