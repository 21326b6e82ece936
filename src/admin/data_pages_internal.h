#pragma once
// What the console's data pages share (data_pages.cpp, data_schema_pages.cpp,
// data_records_pages.cpp): the page object that answers one request under
// /_hearth/sites/{site}/data, and the helpers every page draws with. Not for
// use outside those files; the entry point is data_pages.h.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "admin/common.h"

namespace hearth::admin::data_pages {

using nlohmann::json;

// The data pages' URL of a site: /_hearth/sites/{site}/data.
std::string Base(const std::string& site);
// The site's app API, as a superuser (the console's session stands for the admin).
Handler AppApi(data::Apps* apps, int reader, std::string site);
// The trail back to the site and its collections (and `collection`, if given).
std::string Breadcrumbs(const std::string& site, const std::string& collection = "");
// What the console keeps open for live updates: the realtime stream's URL
// and the topics (collection events, schema changes) a page listens to.
std::string LiveRegion(const PageContext& ctx, const std::string& site, const std::string& topics);

class DataPages : public std::enable_shared_from_this<DataPages> {
 public:
  DataPages(PageContext ctx, std::string site) : ctx_(std::move(ctx)), site_(std::move(site)) {}

  void Get(const std::vector<std::string>& seg);
  void Post(const std::vector<std::string>& seg, const Form& form);

 private:
  std::string ControlPath(const std::string& collection = "") const;
  void NotFound();
  void Failed(Response& out, int status, const std::string& title, const std::string& message,
              const std::string& collection = "");

  // Collections, their fields and rules (data_schema_pages.cpp).
  void Collections();
  void CreateCollection(const Form& form);
  void Schema(const std::string& collection);
  void ChangeFields(const std::string& collection, const Form& form, bool remove);
  void FieldPage(const std::string& collection, const std::string& field);
  void EditField(const std::string& collection, const std::string& field, const Form& form);
  void SetRules(const std::string& collection, const Form& form);
  void DeleteCollection(const std::string& collection);

  // Records (data_records_pages.cpp).
  void Records(const std::string& collection);
  void RenderRecords(Response& out, const std::string& csrf, const std::string& site,
                     const std::string& collection, const json& def, int status, const json& list,
                     uint64_t page_no, const std::string& sort, const std::string& filter);
  void RecordPage(const std::string& collection, const std::string& id);
  void RenderRecord(Response& out, const std::string& csrf, const std::string& site,
                    const std::string& collection, const json& def, const json& record,
                    const json& errors, const std::string& flash, int status);
  void SaveRecord(const std::string& collection, const std::string& id, const Form& form);
  void DeleteRecord(const std::string& collection, const std::string& id);

  // The realtime stream of the site's app API, as a superuser; the page's
  // script then names its topics (Subscribe).
  void LiveStream();
  void Subscribe(const Form& form);

  // A copy: deferred answers run after the request is gone (req and res
  // are used only before the first callback returns).
  PageContext ctx_;
  std::string site_;
};

}  // namespace hearth::admin::data_pages
