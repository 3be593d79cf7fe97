// Tests of contact rows (audience/contact_row.hpp): address normalisation (IDNA A-labels computed with
// Python's idna package, UTS #46 non-transitional), header mapping in English and Polish, explicit maps,
// row errors with line numbers, and whole imports of Polish files in both 8-bit encodings with broken rows.
#include "audience/contact_row.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "audience/charset.hpp"
#include "audience/csv.hpp"

namespace kurier::audience {
namespace {

TEST(ContactRow, NormalizeAddress) {
  struct Row {
    std::string in, want;
  };
  const Row rows[] = {
      {"jan@example.pl", "jan@example.pl"},
      {"  Jan.Kowalski@Example.PL ", "jan.kowalski@example.pl"},
      {"<Ola@Example.COM>", "ola@example.com"},
      {"\t< ola@example.com >\r", "ola@example.com"},
      {"\xC2\xA0" "ewa@example.pl" "\xC2\xA0", "ewa@example.pl"},   // no-break spaces from a spreadsheet
      {"Jan@Łódź.pl", "jan@xn--d-uga0v4h.pl"},
      {"jan@ŁÓDŹ.PL", "jan@xn--d-uga0v4h.pl"},                       // UTS #46 maps capitals
      {"jozef@źródło.pl", "jozef@xn--rdo-gna01bwk.pl"},
      {"x@Żółw.PL", "x@xn--w-uga1v8h.pl"},
      {"a@faß.de", "a@xn--fa-hia.de"},                                // non-transitional: ß kept
      {"a@xn--d-uga0v4h.pl", "a@xn--d-uga0v4h.pl"},
      {"\"john doe\"@example.com", "\"john doe\"@example.com"},
  };
  for (const auto& r : rows) {
    auto got = NormalizeContactAddress(r.in);
    ASSERT_TRUE(got.ok()) << r.in << ": " << got.error().message;
    EXPECT_EQ(*got, r.want) << r.in;
  }
}

TEST(ContactRow, NormalizeAddressErrors) {
  struct Row {
    std::string in, want;  // the start of the message
  };
  const std::string long_local(64, 'a');
  const std::string long_domain = std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(63, 'd') + ".pl";
  const Row rows[] = {
      {"", "address '' is empty: give an address such as user@example.com"},
      {" <> ", "address '' is empty"},
      {"jan.example.pl", "address 'jan.example.pl' has no @: write it as user@example.com"},
      {"jan@", "address 'jan@' needs text on both sides of the @"},
      {"@example.pl", "address '@example.pl' needs text on both sides of the @"},
      {"łukasz@example.pl",
       "address 'łukasz@example.pl' has a non-ASCII local part: internationalised local parts (SMTPUTF8) cannot be "
       "sent to here"},
      {"a@\xEF\xBF\xBD.pl", "address 'a@\xEF\xBF\xBD.pl' has a domain that is not a valid internationalised domain name"},
      {"a\nb@example.pl", "address 'a\nb@example.pl' contains a control character"},
      {"jan kowalski@example.pl", "address 'jan kowalski@example.pl' is not a valid address"},
      {"jan@exa mple.pl", "address 'jan@exa mple.pl' is not a valid address"},
      {long_local + "@" + long_domain,
       "address '" + long_local + "@" + std::string(15, 'b') + "...' is longer than 254 octets"},
  };
  for (const auto& r : rows) {
    auto got = NormalizeContactAddress(r.in);
    ASSERT_FALSE(got.ok()) << r.in << " gave " << *got;
    EXPECT_EQ(got.error().message.substr(0, r.want.size()), r.want) << r.in;
  }
}

// The columns of a mapper as one string: "address name first:first_name attr:Miasto skip".
std::string Targets(const ContactMapper& m) {
  std::string out;
  for (const auto& c : m.columns()) {
    if (!out.empty()) out += ' ';
    switch (c.kind) {
      case ColumnTarget::kSkip: out += "skip"; break;
      case ColumnTarget::kAddress: out += "address"; break;
      case ColumnTarget::kName: out += "name"; break;
      case ColumnTarget::kFirstName: out += "first:" + c.attribute; break;
      case ColumnTarget::kLastName: out += "last:" + c.attribute; break;
      case ColumnTarget::kAttribute: out += "attr:" + c.attribute; break;
    }
  }
  return out;
}

TEST(ContactRow, HeaderMapping) {
  struct Row {
    std::vector<std::string> header, maps;
    std::string want;  // Targets(), or "!" and the error
  };
  const Row rows[] = {
      {{"email", "name"}, {}, "address name"},
      {{" E-Mail ", "Full  Name", "City"}, {}, "address name attr:City"},
      {{"Adres e-mail", "Imię i nazwisko"}, {}, "address name"},
      {{"ADRES EMAIL", "IMIĘ", "NAZWISKO", "Miasto "}, {}, "address first:first_name last:last_name attr:Miasto"},
      {{"First Name", "Last_Name", "Email Address", ""}, {}, "first:first_name last:last_name address skip"},
      {{"mail", "Nazwa", "Surname"}, {}, "address name last:last_name"},
      {{"Kontakt", "Osoba"}, {"kontakt=address", "Osoba = name"}, "address name"},
      {{"email", "Kontakt"}, {"Kontakt=address"}, "attr:email address"},  // the map wins, email is kept
      {{"email", "name", "x"}, {"name=-", "x=attributes.segment"}, "address skip attr:segment"},
      {{"a=b", "email"}, {"a=b=name"}, "name address"},                   // the last '=' splits
      {{"email", "Imię"}, {"Imię=first_name"}, "address first:first_name"},
      {{"name", "phone"}, {}, "!no address column: the header has 'name', 'phone'; name the column email (or "
                              "e-mail, adres e-mail), or map it with --map COLUMN=address"},
      {{}, {}, "!no address column: the header has no columns; name the column email (or e-mail, adres e-mail), or map "
                "it with --map COLUMN=address"},
      {{"email", "Name", "NAME"}, {}, "!columns 2 and 3 are both named 'NAME'; rename one in the file"},
      {{"email", "e-mail"}, {}, "!columns 'email' and 'e-mail' both give the address; skip one with --map "
                                "'e-mail=-' or map it elsewhere"},
      {{"email", "a", "b"}, {"a=attributes.k", "b=attributes.k"},
       "!columns 'a' and 'b' both give the attribute 'k'; skip one with --map 'b=-' or map it elsewhere"},
      {{"email"}, {"phone=name"}, "!map 'phone=name': the file has no column 'phone'; its header has 'email'"},
      {{"email"}, {"email"}, "!map 'email' has no '=': write COLUMN=FIELD, e.g. 'E-mail klienta=address'"},
      {{"email", "x"}, {"x=phone"},
       "!map 'x=phone': unknown field 'phone'; give address, name, first_name, last_name, attributes.KEY or - (skip "
       "the column)"},
      {{"email", "x"}, {"x=attributes."}, "!map 'x=attributes.': unknown field 'attributes.'; give address, name, "
                                          "first_name, last_name, attributes.KEY or - (skip the column)"},
  };
  for (const auto& r : rows) {
    auto m = ContactMapper::FromHeader(r.header, r.maps);
    std::string got = m ? Targets(*m) : "!" + m.error().message;
    EXPECT_EQ(got, r.want);
  }
}

CsvRecord Rec(std::size_t line, std::vector<std::string> fields) { return CsvRecord{line, std::move(fields), ""}; }

TEST(ContactRow, MapRows) {
  auto m = ContactMapper::FromHeader({"Email", "Imię", "Nazwisko", "Miasto", "Segment"});
  ASSERT_TRUE(m.ok()) << m.error().message;
  struct Row {
    CsvRecord rec;
    std::string want;  // address|name|attributes JSON, or "!" and the error
  };
  const Row rows[] = {
      {Rec(2, {"Jan@Łódź.pl", " Jan ", "Kowalski", "Łódź", "vip"}),
       "jan@xn--d-uga0v4h.pl|Jan Kowalski|{\"first_name\":\"Jan\",\"last_name\":\"Kowalski\",\"Miasto\":\"Łódź\","
       "\"Segment\":\"vip\"}"},
      {Rec(3, {"ewa@x.pl", "", "Nowak", "", ""}), "ewa@x.pl|Nowak|{\"last_name\":\"Nowak\"}"},
      {Rec(4, {"ola@x.pl"}), "ola@x.pl||{}"},                               // missing cells are empty
      {Rec(5, {"ola@x.pl", "", "", "", "", "", " "}), "ola@x.pl||{}"},      // empty extra cells are ignored
      {Rec(6, {"ola@x.pl", "", "", "", "", "extra"}),
       "!line 6: 6 cells but the header has 5 columns; quote the cells that contain the delimiter, or add the "
       "column to the header"},
      {Rec(7, {"  ", "Jan"}), "!line 7: no address (column 'Email' is empty); add it or remove the row"},
      {Rec(8, {"jan(at)x.pl", "Jan"}), "!line 8: address 'jan(at)x.pl' has no @: write it as user@example.com"},
      {Rec(9, {"a@x.pl", "Jan\x01"}), "!line 9: name 'Jan\x01' contains"},
      {CsvRecord{10, {}, "line 10: a quote inside an unquoted field; quote the whole field and double the quote"},
       "!line 10: a quote inside an unquoted field; quote the whole field and double the quote"},
  };
  for (const auto& r : rows) {
    auto c = m->Map(r.rec);
    std::string got = c ? c->address + "|" + c->name + "|" + boost::json::serialize(c->attributes) : "!" + c.error().message;
    EXPECT_EQ(got.substr(0, r.want.size()), r.want) << r.rec.line;
  }
}

// A whole import as the CLI runs it: detect, convert in chunks, read CSV, map rows.
struct Imported {
  Charset charset;
  std::vector<std::string> contacts;  // "line address name attributes"
  std::vector<std::string> errors;
};

Imported Import(std::string_view file, std::size_t chunk) {
  Imported out;
  out.charset = DetectCharset(file.substr(0, 65536));
  auto conv = Utf8Converter::Open(out.charset);
  EXPECT_TRUE(conv.ok());
  CsvReader csv;
  std::optional<ContactMapper> mapper;
  auto take = [&] {
    while (auto rec = csv.Next()) {
      if (!mapper) {
        auto m = ContactMapper::FromHeader(rec->fields);
        ASSERT_TRUE(m.ok()) << m.error().message;
        mapper = std::move(*m);
        continue;
      }
      auto c = mapper->Map(*rec);
      if (!c) {
        out.errors.push_back(c.error().message);
        continue;
      }
      out.contacts.push_back(std::to_string(rec->line) + " " + c->address + " " + c->name + " " +
                             boost::json::serialize(c->attributes));
    }
  };
  for (std::size_t i = 0; i < file.size(); i += chunk) {
    std::string utf8;
    conv->Convert(file.substr(i, chunk), utf8);
    csv.Feed(utf8);
    take();
  }
  std::string rest;
  conv->Finish(rest);
  csv.Feed(rest);
  csv.Finish();
  take();
  EXPECT_EQ(conv->problem_count(), 0u);
  return out;
}

TEST(ContactRow, ImportsPolishFilesWithBrokenRows) {
  // Excel's "CSV (rozdzielany średnikami)": windows-1250, ';', CRLF; the same file in ISO-8859-2 with LF.
  const std::string cp1250 =
      "Adres e-mail;Imi\xEA;Nazwisko;Miasto\r\n"
      "zofia@example.pl;Zofia;W\xB9sowicz;\xA3\xF3" "d\x9F\r\n"
      "z\xB3y\"wiersz;x;y;z\r\n"
      "jozef@\x9Fr\xF3" "d\xB3o.pl;J\xF3zef;\xAF\xF3\xB3tek;\x8Cwi\xEAtokrzyskie\r\n"
      "\r\n"
      "nie-adres;Jan;Nowak;\r\n"
      "\"ANNA@EXAMPLE.PL\";\"Anna\";\"Kowalska; z d. \"\"Nowak\"\"\";\"\xA3\xF3" "d\x9F\"\r\n";
  const std::string latin2 =
      "Adres e-mail;Imi\xEA;Nazwisko;Miasto\n"
      "zofia@example.pl;Zofia;W\xB1sowicz;\xA3\xF3" "d\xBC\n"
      "z\xB3y\"wiersz;x;y;z\n"
      "jozef@\xBCr\xF3" "d\xB3o.pl;J\xF3zef;\xAF\xF3\xB3tek;\xA6wi\xEAtokrzyskie\n"
      "\n"
      "nie-adres;Jan;Nowak;\n"
      "\"ANNA@EXAMPLE.PL\";\"Anna\";\"Kowalska; z d. \"\"Nowak\"\"\";\"\xA3\xF3" "d\xBC\"\n";
  const std::vector<std::string> contacts = {
      "2 zofia@example.pl Zofia Wąsowicz {\"first_name\":\"Zofia\",\"last_name\":\"Wąsowicz\",\"Miasto\":\"Łódź\"}",
      "4 jozef@xn--rdo-gna01bwk.pl Józef Żółtek {\"first_name\":\"Józef\",\"last_name\":\"Żółtek\","
      "\"Miasto\":\"Świętokrzyskie\"}",
      "7 anna@example.pl Anna Kowalska; z d. \"Nowak\" {\"first_name\":\"Anna\",\"last_name\":\"Kowalska; z d. "
      "\\\"Nowak\\\"\",\"Miasto\":\"Łódź\"}",
  };
  const std::vector<std::string> errors = {
      "line 3: a quote inside an unquoted field; quote the whole field and double the quote",
      "line 6: address 'nie-adres' has no @: write it as user@example.com",
  };
  for (std::size_t chunk : {1, 2, 3, 7, 64, 4096}) {
    auto a = Import(cp1250, chunk);
    EXPECT_EQ(a.charset, Charset::kWindows1250);
    EXPECT_EQ(a.contacts, contacts) << chunk;
    EXPECT_EQ(a.errors, errors) << chunk;
    auto b = Import(latin2, chunk);
    EXPECT_EQ(b.charset, Charset::kIso8859_2);
    EXPECT_EQ(b.contacts, contacts) << chunk;
    EXPECT_EQ(b.errors, errors) << chunk;
  }
}

TEST(ContactRow, HeaderKey) {
  struct Row {
    std::string in, want;
  };
  const Row rows[] = {
      {"  Imię  i   Nazwisko ", "imię i nazwisko"}, {"ADRES E-MAIL", "adres e-mail"}, {"ŻÓŁĆ", "żółć"},
      {"\xC2\xA0" "Email", "email"},                {"", ""},
  };
  for (const auto& r : rows) EXPECT_EQ(HeaderKey(r.in), r.want) << r.in;
}

}  // namespace
}  // namespace kurier::audience
