#include "service/snapshot_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

namespace service {

using station::Bill;
using station::BillId;
using station::kNone;
using station::Order;
using station::StationImage;

// The compact records below carry every field; a new one must be added to them.
static_assert(sizeof(Order) == 120, "Order changed: update the snapshot's order records");
static_assert(sizeof(Bill) == 64, "Bill changed: update the snapshot's bill records");
static_assert(sizeof(station::PileImage) == 152, "PileImage changed: update the pile records");

namespace {

constexpr std::array<char, 8> kMagic = {'E', 'V', 'S', 'N', 'A', 'P', '\r', '\n'};
constexpr std::size_t kHeaderSize = 24;
constexpr std::size_t kTrailerSize = 4;

// ---- CRC-32, slicing by 8 --------------------------------------------------------------

using CrcTables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr CrcTables make_crc_tables() {
    CrcTables t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) {
            c = (c & 1U) != 0 ? (c >> 1) ^ 0xEDB88320U : c >> 1;
        }
        t[0][i] = c;
    }
    for (std::size_t k = 1; k < 8; ++k) {
        for (std::size_t i = 0; i < 256; ++i) {
            t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFU];
        }
    }
    return t;
}

constexpr CrcTables kCrc = make_crc_tables();

// ---- little-endian fields -------------------------------------------------------------

std::uint64_t load_le(const char* p, int bytes) {
    std::uint64_t v = 0;
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(&v, p, static_cast<std::size_t>(bytes));
    } else {
        for (int i = bytes - 1; i >= 0; --i) {
            v = (v << 8) | static_cast<unsigned char>(p[i]);
        }
    }
    return v;
}

void store_le(char* p, std::uint64_t v, int bytes) {
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(p, &v, static_cast<std::size_t>(bytes));
    } else {
        for (int i = 0; i < bytes; ++i) {
            p[i] = static_cast<char>(v >> (8 * i));
        }
    }
}

std::uint64_t bits(double v) {
    return std::bit_cast<std::uint64_t>(v);
}

// A value as a zigzag-coded difference from `base`, in two's complement (wraps, exact).
std::uint64_t zigzag(std::int64_t value, std::int64_t base) {
    const std::uint64_t d = static_cast<std::uint64_t>(value) - static_cast<std::uint64_t>(base);
    return (d << 1) ^ (0 - (d >> 63));
}
std::int64_t unzigzag(std::uint64_t z, std::int64_t base) {
    const std::uint64_t d = (z >> 1) ^ (0 - (z & 1U));
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(base) + d);
}
std::int64_t plus_one(std::int64_t v) {
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(v) + 1);
}

// Doubles in the compact records: a two-bit tag, then what it needs.
enum DoubleTag : std::uint8_t { kPredicted = 0, kZero = 1, kHundredths = 2, kRaw = 3 };

struct TaggedDouble {
    std::uint8_t tag = kRaw;
    std::int64_t hundredths = 0;
};

TaggedDouble classify(double v, double predicted) {
    if (bits(v) == bits(predicted)) {
        return {kPredicted, 0};
    }
    if (bits(v) == 0) {
        return {kZero, 0};
    }
    const double scaled = v * 100.0;
    if (scaled >= -1e14 && scaled <= 1e14) {  // false for NaN
        const auto k = static_cast<std::int64_t>(scaled + (scaled < 0 ? -0.5 : 0.5));
        if (bits(static_cast<double>(k) / 100.0) == bits(v)) {
            return {kHundredths, k};
        }
    }
    return {kRaw, 0};
}

// ---- writer -----------------------------------------------------------------------------

// Writes a snapshot into a buffer, or through a sink in chunks (a file being written while
// the rest is encoded). Keeps the CRC of the payload as it goes.
class Writer {
  public:
    using Sink = std::function<void(std::string_view)>;
    static constexpr std::size_t kChunk = std::size_t{4} << 20;

    explicit Writer(std::size_t initial, Sink sink = nullptr)
        : buf_(std::max(initial, kHeaderSize + 256), '\0'), sink_(std::move(sink)) {}

    /// Makes room for `n` more bytes; the put functions below assume it.
    void ensure(std::size_t n) {
        if (buf_.size() - pos_ < n) {
            if (sink_ && pos_ >= kChunk) {
                flush();
            }
            if (buf_.size() - pos_ < n) {
                buf_.resize(std::max(buf_.size() * 2, pos_ + n));
            }
        }
    }
    void u8(std::uint8_t v) { buf_[pos_++] = static_cast<char>(v); }
    void fixed(std::uint64_t v, int bytes) {
        store_le(&buf_[pos_], v, bytes);
        pos_ += static_cast<std::size_t>(bytes);
    }
    void u32(std::uint32_t v) { fixed(v, 4); }
    void i32(std::int32_t v) { fixed(static_cast<std::uint32_t>(v), 4); }
    void u64(std::uint64_t v) { fixed(v, 8); }
    void i64(std::int64_t v) { fixed(static_cast<std::uint64_t>(v), 8); }
    void f64(double v) { fixed(bits(v), 8); }
    void var(std::uint64_t v) {
        while (v >= 0x80) {
            u8(static_cast<std::uint8_t>(v | 0x80));
            v >>= 7;
        }
        u8(static_cast<std::uint8_t>(v));
    }
    void delta(std::int64_t value, std::int64_t base) { var(zigzag(value, base)); }
    void tagged(const TaggedDouble& t, double v) {
        if (t.tag == kHundredths) {
            delta(t.hundredths, 0);
        } else if (t.tag == kRaw) {
            f64(v);
        }
    }
    void bytes(std::string_view s) {
        ensure(s.size());
        std::memcpy(buf_.data() + pos_, s.data(), s.size());
        pos_ += s.size();
    }

    /// Starts the file: the header, its payload length to be known at the end.
    void begin() {
        ensure(kHeaderSize);
        bytes(std::string_view(kMagic.data(), kMagic.size()));
        u32(kSnapshotFormatVersion);
        u32(0);
        u64(0);
        crc_done_ = pos_;  // the CRC covers the payload, then the header
    }
    /// Ends the file: the CRC trailer. Returns the header as it must finally read (with a
    /// sink, the caller writes it over the first bytes it was given).
    std::array<char, kHeaderSize> finish() {
        update_crc();
        std::array<char, kHeaderSize> header{};
        std::memcpy(header.data(), kMagic.data(), kMagic.size());
        store_le(header.data() + 8, kSnapshotFormatVersion, 4);
        store_le(header.data() + 12, 0, 4);
        store_le(header.data() + 16, written_ + pos_ - kHeaderSize, 8);
        if (written_ == 0) {
            std::memcpy(buf_.data(), header.data(), kHeaderSize);
        }
        crc_ = crc32(std::string_view(header.data(), kHeaderSize), crc_);
        ensure(kTrailerSize);
        u32(crc_);
        crc_done_ = pos_;
        if (sink_) {
            flush();
        }
        return header;
    }
    /// The whole file, without a sink.
    std::string take() {
        buf_.resize(pos_);
        return std::move(buf_);
    }

  private:
    void update_crc() {
        crc_ = crc32(std::string_view(buf_.data() + crc_done_, pos_ - crc_done_), crc_);
        crc_done_ = pos_;
    }
    void flush() {
        update_crc();
        sink_(std::string_view(buf_.data(), pos_));
        written_ += pos_;
        pos_ = 0;
        crc_done_ = 0;
    }

    std::string buf_;
    std::size_t pos_ = 0;
    std::size_t crc_done_ = 0;  // buf_[0, crc_done_) is in crc_
    std::size_t written_ = 0;   // bytes given to the sink
    std::uint32_t crc_ = 0;
    Sink sink_;
};

// ---- reader -----------------------------------------------------------------------------

[[noreturn]] void malformed(const std::string& why) {
    throw std::runtime_error("malformed snapshot: " + why);
}

class Reader {
  public:
    explicit Reader(std::string_view data) : p_(data.data()), end_(data.data() + data.size()) {}

    std::size_t left() const { return static_cast<std::size_t>(end_ - p_); }
    void need(std::size_t n, const char* what) const {
        if (left() < n) {
            malformed(std::string("it ends inside ") + what);
        }
    }
    std::uint8_t u8(const char* what) {
        need(1, what);
        return static_cast<std::uint8_t>(*p_++);
    }
    std::uint64_t fixed(int bytes, const char* what) {
        need(static_cast<std::size_t>(bytes), what);
        const std::uint64_t v = load_le(p_, bytes);
        p_ += bytes;
        return v;
    }
    std::uint32_t u32(const char* what) { return static_cast<std::uint32_t>(fixed(4, what)); }
    std::int32_t i32(const char* what) { return static_cast<std::int32_t>(u32(what)); }
    std::uint64_t u64(const char* what) { return fixed(8, what); }
    std::int64_t i64(const char* what) { return static_cast<std::int64_t>(u64(what)); }
    double f64(const char* what) { return std::bit_cast<double>(u64(what)); }
    bool flag(const char* what) {
        const std::uint8_t b = u8(what);
        if (b > 1) {
            malformed(std::string(what) + " is neither 0 nor 1");
        }
        return b == 1;
    }
    std::uint64_t var(const char* what) {
        std::uint64_t v = 0;
        for (int shift = 0;; shift += 7) {
            const std::uint8_t b = u8(what);
            if (shift == 63 && b > 1) {
                malformed(std::string(what) + " is a number too long");
            }
            v |= static_cast<std::uint64_t>(b & 0x7FU) << shift;
            if ((b & 0x80U) == 0) {
                return v;
            }
        }
    }
    std::int64_t delta(std::int64_t base, const char* what) { return unzigzag(var(what), base); }
    std::int32_t delta32(std::int64_t base, const char* what) {
        const std::int64_t v = delta(base, what);
        if (v < INT32_MIN || v > INT32_MAX) {
            malformed(std::string(what) + " is out of range");
        }
        return static_cast<std::int32_t>(v);
    }
    double tagged(std::uint8_t tag, double predicted, const char* what) {
        switch (tag & 3U) {
            case kPredicted:
                return predicted;
            case kZero:
                return 0.0;
            case kHundredths:
                return static_cast<double>(delta(0, what)) / 100.0;
            default:
                return f64(what);
        }
    }
    std::string_view bytes(std::size_t n, const char* what) {
        need(n, what);
        const std::string_view s(p_, n);
        p_ += n;
        return s;
    }

  private:
    const char* p_;
    const char* end_;
};

// ---- the records ------------------------------------------------------------------------

// Fixed-size fields of a pile record (the id and the queue come on top).
constexpr std::size_t kPileFixedBytes = 4 + 1 + 4 * 8 + 2 * 4 + 2 * 8 + 3 * 8 + 4;
constexpr std::size_t kTimerBytes = 8 + 1 + 4 + 4;
// The least and the most an order or a bill record can take (see write_order, write_bill).
constexpr std::size_t kMinOrderBytes = 9;
constexpr std::size_t kMinBillBytes = 7;
constexpr std::size_t kMaxOrderBytes = 4 + 2 + 14 * 10 + 4 * 10;
constexpr std::size_t kMaxBillBytes = 2 + 6 * 10 + 3 * 10;

enum OrderPresence : std::uint8_t {
    kHasPile = 1U << 0,
    kHasDispatched = 1U << 1,
    kHasStarted = 1U << 2,
    kHasClosed = 1U << 3,
    kHasFirstBill = 1U << 4,
    kHasLastBill = 1U << 5,
    kHasPrev = 1U << 6,
    kHasNext = 1U << 7,
};
constexpr std::uint8_t kBillHasNext = 1U << 6;
constexpr std::uint8_t kEnumsEscaped = 0x80;

// Bills come first and predict only from the bill before: they are made in time order, so
// a bill's stop is a little after the previous one's.
struct BillContext {
    std::int64_t prev_order = 0;
    std::int64_t prev_pile = 0;
    station::TimeMs prev_stop = 0;
    double prev_kwh = 0;
    double prev_charge = 0;
    double prev_service = 0;

    void after(const Bill& b) {
        *this = BillContext{b.order, b.pile, b.stop, b.kwh, b.charge_fee, b.service_fee};
    }
};

void write_bill(Writer& w, const Bill& b, std::size_t i, BillContext& c) {
    w.ensure(kMaxBillBytes);
    const TaggedDouble kwh = classify(b.kwh, c.prev_kwh);
    const TaggedDouble charge = classify(b.charge_fee, c.prev_charge);
    const TaggedDouble service = classify(b.service_fee, c.prev_service);
    w.u8(static_cast<std::uint8_t>(kwh.tag | (charge.tag << 2) | (service.tag << 4) |
                                   (b.next_of_order != kNone ? kBillHasNext : 0)));
    w.u8(static_cast<std::uint8_t>(b.reason));
    w.delta(b.id, static_cast<std::int64_t>(i));
    w.delta(b.order, c.prev_order);
    w.delta(b.pile, c.prev_pile);
    w.delta(b.stop, c.prev_stop);
    w.delta(b.start, b.stop);
    if (b.next_of_order != kNone) {
        w.delta(b.next_of_order, b.id);
    }
    w.tagged(kwh, b.kwh);
    w.tagged(charge, b.charge_fee);
    w.tagged(service, b.service_fee);
    c.after(b);
}

Bill read_bill(Reader& r, std::size_t i, BillContext& c) {
    Bill b;
    const std::uint8_t tags = r.u8("a bill");
    if ((tags & 0x80U) != 0) {
        malformed("a bill record has a bad first byte");
    }
    b.reason = static_cast<station::StopReason>(r.u8("a bill"));
    b.id = r.delta32(static_cast<std::int64_t>(i), "a bill id");
    b.order = r.delta32(c.prev_order, "a bill's order");
    b.pile = r.delta32(c.prev_pile, "a bill's pile");
    b.stop = r.delta(c.prev_stop, "a bill's time");
    b.start = r.delta(b.stop, "a bill's time");
    if ((tags & kBillHasNext) != 0) {
        b.next_of_order = r.delta32(b.id, "a bill's next");
    }
    b.kwh = r.tagged(tags, c.prev_kwh, "a bill's amount");
    b.charge_fee = r.tagged(static_cast<std::uint8_t>(tags >> 2), c.prev_charge, "a bill's amount");
    b.service_fee =
        r.tagged(static_cast<std::uint8_t>(tags >> 4), c.prev_service, "a bill's amount");
    c.after(b);
    return b;
}

// Orders come after the bills and predict from them too.
struct OrderContext {
    std::int64_t next_new_car = 0;
    std::int64_t prev_issue_seq = -1;
    station::TimeMs prev_created = 0;
    std::int64_t prev_last_bill = -1;
    double prev_requested = 0;

    void after(const Order& o) {
        next_new_car = std::max<std::int64_t>(next_new_car, std::int64_t{o.car} + 1);
        prev_issue_seq = o.issue_seq;
        prev_created = o.created_at;
        if (o.last_bill != kNone) {
            prev_last_bill = o.last_bill;
        }
        prev_requested = o.requested_kwh;
    }
};

void prefetch(BillId id, const std::vector<Bill>& bills) {
    if (id >= 0 && static_cast<std::size_t>(id) < bills.size()) {
        __builtin_prefetch(&bills[static_cast<std::size_t>(id)]);
    }
}

const Bill* bill_at(BillId id, const std::vector<Bill>& bills) {
    return id >= 0 && static_cast<std::size_t>(id) < bills.size()
               ? &bills[static_cast<std::size_t>(id)]
               : nullptr;
}

// What an order's record predicts from its bills: its first session started when it first
// started charging, its last one stopped when it closed; with one session (the usual case),
// it requested, got and paid what that bill says, and a finished order got what it requested.
struct OrderPrediction {
    const Bill* first = nullptr;
    const Bill* last = nullptr;
    double requested = 0;
    double delivered = 0;
    double charge = 0;
    double service = 0;
};

OrderPrediction predict(const Order& o, const std::vector<Bill>& bills, const OrderContext& c) {
    OrderPrediction p;
    p.first = bill_at(o.first_bill, bills);
    p.last = bill_at(o.last_bill, bills);
    p.requested = c.prev_requested;
    if (p.first != nullptr && o.first_bill == o.last_bill) {
        p.requested = p.delivered = p.first->kwh;
        p.charge = p.first->charge_fee;
        p.service = p.first->service_fee;
    }
    return p;
}

// The fields before the doubles, whose predictions need no bill.
void write_order(Writer& w, const Order& o, std::size_t i, OrderContext& c,
                 const std::vector<Bill>& bills) {
    w.ensure(kMaxOrderBytes);
    const auto mode = static_cast<std::uint8_t>(o.mode);
    const auto state = static_cast<std::uint8_t>(o.state);
    const auto place = static_cast<std::uint8_t>(o.place);
    if (mode < 2 && state < 8 && place < 4) {
        w.u8(static_cast<std::uint8_t>(mode | (state << 1) | (place << 4)));
    } else {
        w.u8(kEnumsEscaped);
        w.u8(mode);
        w.u8(state);
        w.u8(place);
    }
    std::uint8_t has = 0;
    has |= o.pile != kNone ? kHasPile : 0;
    has |= o.dispatched_at != -1 ? kHasDispatched : 0;
    has |= o.started_at != -1 ? kHasStarted : 0;
    has |= o.closed_at != -1 ? kHasClosed : 0;
    has |= o.first_bill != kNone ? kHasFirstBill : 0;
    has |= o.last_bill != kNone ? kHasLastBill : 0;
    has |= o.prev != kNone ? kHasPrev : 0;
    has |= o.next != kNone ? kHasNext : 0;
    w.u8(has);
    const OrderPrediction p = predict(o, bills, c);
    const TaggedDouble requested = classify(o.requested_kwh, p.requested);
    const double delivered_p =
        o.state == station::OrderState::Finished ? o.requested_kwh : p.delivered;
    const TaggedDouble delivered = classify(o.delivered_kwh, delivered_p);
    const TaggedDouble charge = classify(o.charge_fee, p.charge);
    const TaggedDouble service = classify(o.service_fee, p.service);
    w.u8(static_cast<std::uint8_t>(requested.tag | (delivered.tag << 2) | (charge.tag << 4) |
                                   (service.tag << 6)));
    std::int64_t bill_base = plus_one(c.prev_last_bill);
    if ((has & kHasFirstBill) != 0) {
        w.delta(o.first_bill, bill_base);
        bill_base = o.first_bill;
    }
    if ((has & kHasLastBill) != 0) {
        w.delta(o.last_bill, bill_base);
    }
    w.delta(o.id, static_cast<std::int64_t>(i));
    w.delta(o.car, c.next_new_car);
    if ((has & kHasPile) != 0) {
        w.delta(o.pile, 0);
    }
    w.var(o.number);
    w.delta(o.issue_seq, plus_one(c.prev_issue_seq));
    w.delta(o.created_at, c.prev_created);
    station::TimeMs base = o.created_at;
    if ((has & kHasDispatched) != 0) {
        w.delta(o.dispatched_at, base);
        base = o.dispatched_at;
    }
    if ((has & kHasStarted) != 0) {
        w.delta(o.started_at, p.first != nullptr ? p.first->start : base);
        base = o.started_at;
    }
    w.delta(o.place_since, base);
    if ((has & kHasClosed) != 0) {
        w.delta(o.closed_at, p.last != nullptr ? p.last->stop : o.place_since);
    }
    if ((has & kHasPrev) != 0) {
        w.delta(o.prev, o.id);
    }
    if ((has & kHasNext) != 0) {
        w.delta(o.next, o.id);
    }
    w.tagged(requested, o.requested_kwh);
    w.tagged(delivered, o.delivered_kwh);
    w.tagged(charge, o.charge_fee);
    w.tagged(service, o.service_fee);
    c.after(o);
}

Order read_order(Reader& r, std::size_t i, OrderContext& c, const std::vector<Bill>& bills) {
    Order o;
    const std::uint8_t enums = r.u8("an order");
    if (enums == kEnumsEscaped) {
        o.mode = static_cast<station::Mode>(r.u8("an order"));
        o.state = static_cast<station::OrderState>(r.u8("an order"));
        o.place = static_cast<station::Place>(r.u8("an order"));
    } else if ((enums & 0xC0U) != 0) {
        malformed("an order record has a bad first byte");
    } else {
        o.mode = static_cast<station::Mode>(enums & 1U);
        o.state = static_cast<station::OrderState>((enums >> 1) & 7U);
        o.place = static_cast<station::Place>((enums >> 4) & 3U);
    }
    const std::uint8_t has = r.u8("an order");
    const std::uint8_t tags = r.u8("an order");
    // The bills first: loading them overlaps reading the fields that do not need them.
    std::int64_t bill_base = plus_one(c.prev_last_bill);
    if ((has & kHasFirstBill) != 0) {
        o.first_bill = r.delta32(bill_base, "an order's bill");
        bill_base = o.first_bill;
        prefetch(o.first_bill, bills);
    }
    if ((has & kHasLastBill) != 0) {
        o.last_bill = r.delta32(bill_base, "an order's bill");
        prefetch(o.last_bill, bills);
    }
    o.id = r.delta32(static_cast<std::int64_t>(i), "an order id");
    o.car = r.delta32(c.next_new_car, "an order's car");
    o.pile = (has & kHasPile) != 0 ? r.delta32(0, "an order's pile") : kNone;
    const std::uint64_t number = r.var("an order's number");
    if (number > UINT32_MAX) {
        malformed("an order's number is out of range");
    }
    o.number = static_cast<std::uint32_t>(number);
    o.issue_seq = r.delta(plus_one(c.prev_issue_seq), "an order's issue sequence");
    o.created_at = r.delta(c.prev_created, "an order's time");
    station::TimeMs base = o.created_at;
    if ((has & kHasDispatched) != 0) {
        o.dispatched_at = base = r.delta(base, "an order's time");
    }
    const OrderPrediction p = predict(o, bills, c);
    if ((has & kHasStarted) != 0) {
        o.started_at = base =
            r.delta(p.first != nullptr ? p.first->start : base, "an order's time");
    }
    o.place_since = r.delta(base, "an order's time");
    if ((has & kHasClosed) != 0) {
        o.closed_at = r.delta(p.last != nullptr ? p.last->stop : o.place_since, "an order's time");
    }
    if ((has & kHasPrev) != 0) {
        o.prev = r.delta32(o.id, "an order's neighbour");
    }
    if ((has & kHasNext) != 0) {
        o.next = r.delta32(o.id, "an order's neighbour");
    }
    o.requested_kwh = r.tagged(tags, p.requested, "an order's amount");
    const double delivered_p =
        o.state == station::OrderState::Finished ? o.requested_kwh : p.delivered;
    o.delivered_kwh =
        r.tagged(static_cast<std::uint8_t>(tags >> 2), delivered_p, "an order's amount");
    o.charge_fee = r.tagged(static_cast<std::uint8_t>(tags >> 4), p.charge, "an order's amount");
    o.service_fee = r.tagged(static_cast<std::uint8_t>(tags >> 6), p.service, "an order's amount");
    c.after(o);
    return o;
}

// ---- sections -----------------------------------------------------------------------------

struct Counts {
    std::uint64_t app = 0;
    std::uint64_t piles = 0;
    std::uint64_t timers = 0;
    std::uint64_t cars = 0;
    std::uint64_t orders = 0;
    std::uint64_t bills = 0;
    std::array<std::uint64_t, 2 * station::kModeCount> lists{};  // waiting F/T, groups F/T
    std::uint64_t order_pos = 0;
    std::uint64_t bill_pos = 0;
};

const std::vector<station::OrderId>& list_of(const StationImage& im, std::size_t k) {
    return k < station::kModeCount ? im.waiting[k] : im.groups[k - station::kModeCount];
}
std::vector<station::OrderId>& list_of(StationImage& im, std::size_t k) {
    return k < station::kModeCount ? im.waiting[k] : im.groups[k - station::kModeCount];
}

// Refuses counts the payload cannot hold, before anything is allocated for them.
void check_counts(const Counts& n, std::size_t left) {
    std::size_t need = 0;
    const auto take = [&](std::uint64_t count, std::size_t unit, const char* what) {
        if (count > (left - need) / unit) {
            malformed("it claims " + std::to_string(count) + " " + what + ", more than its " +
                      std::to_string(left) + " bytes can hold");
        }
        need += static_cast<std::size_t>(count) * unit;
    };
    take(n.app, 1, "bytes of application data");
    take(n.piles, kPileFixedBytes, "piles");
    take(n.timers, kTimerBytes, "timers");
    take(n.cars, 1, "cars");
    take(n.orders, kMinOrderBytes, "orders");
    take(n.bills, kMinBillBytes, "bills");
    for (const std::uint64_t count : n.lists) {
        take(count, 4, "waiting or re-dispatch entries");
    }
    take(n.order_pos, 1, "order positions");
    take(n.bill_pos, 1, "bill positions");
    if (n.order_pos > n.orders || n.bill_pos > n.bills) {
        malformed("it has more log positions than orders or bills");
    }
}

void write_positions(Writer& w, const std::vector<std::int64_t>& positions) {
    std::int64_t before = 0;
    for (const std::int64_t pos : positions) {
        w.ensure(10);
        w.delta(pos, before);
        before = pos;
    }
}

void read_positions(Reader& r, std::vector<std::int64_t>& positions, std::uint64_t count) {
    positions.resize(static_cast<std::size_t>(count));
    std::int64_t before = 0;
    for (std::int64_t& pos : positions) {
        pos = r.delta(before, "a log position");
        before = pos;
    }
}

}  // namespace

std::uint32_t crc32(std::string_view bytes, std::uint32_t crc) {
    crc = ~crc;
    const char* p = bytes.data();
    std::size_t n = bytes.size();
    while (n >= 8) {
        const auto lo = static_cast<std::uint32_t>(load_le(p, 4)) ^ crc;
        const auto hi = static_cast<std::uint32_t>(load_le(p + 4, 4));
        crc = kCrc[7][lo & 0xFFU] ^ kCrc[6][(lo >> 8) & 0xFFU] ^ kCrc[5][(lo >> 16) & 0xFFU] ^
              kCrc[4][lo >> 24] ^ kCrc[3][hi & 0xFFU] ^ kCrc[2][(hi >> 8) & 0xFFU] ^
              kCrc[1][(hi >> 16) & 0xFFU] ^ kCrc[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    for (; n > 0; --n, ++p) {
        crc = kCrc[0][(crc ^ static_cast<unsigned char>(*p)) & 0xFFU] ^ (crc >> 8);
    }
    return ~crc;
}

namespace {

// The payload, between Writer::begin and Writer::finish.
void encode_payload(const Snapshot& s, Writer& w) {
    const StationImage& im = s.station;
    w.ensure(256);
    w.i64(s.journal_lines);
    w.u64(im.profile_digest);
    w.i64(im.now);
    w.u8(im.record_events ? 1 : 0);
    w.i64(im.counter_day);
    w.u32(im.counters[0]);
    w.u32(im.counters[1]);
    w.i64(im.next_issue_seq);
    w.u64(s.app.size());
    w.u64(im.piles.size());
    w.u64(im.timers.size());
    w.u64(im.cars.size());
    w.u64(im.orders.size());
    w.u64(im.bills.size());
    for (std::size_t k = 0; k < 2 * station::kModeCount; ++k) {
        w.u64(list_of(im, k).size());
    }
    w.u64(s.order_pos.size());
    w.u64(s.bill_pos.size());

    w.bytes(s.app);
    for (const station::PileImage& p : im.piles) {
        w.ensure(kPileFixedBytes + p.id.size() + 4 * p.queue.size());
        w.u32(static_cast<std::uint32_t>(p.id.size()));
        w.bytes(p.id);
        w.u8(static_cast<std::uint8_t>((p.on ? 1U : 0U) | (p.faulty ? 2U : 0U) |
                                       (p.fault_until ? 4U : 0U)));
        w.i64(p.session_start);
        w.i64(p.head_done_at);
        w.i64(p.finish_at);
        w.i64(p.fault_until.value_or(0));
        w.u32(p.completion_version);
        w.u32(p.fault_version);
        w.i64(p.totals.charges);
        w.i64(p.totals.charging_ms);
        w.f64(p.totals.kwh);
        w.f64(p.totals.charge_fee);
        w.f64(p.totals.service_fee);
        w.u32(static_cast<std::uint32_t>(p.queue.size()));
        for (const station::OrderId id : p.queue) {
            w.i32(id);
        }
    }
    w.ensure(kTimerBytes * im.timers.size());
    for (const station::TimerImage& t : im.timers) {
        w.i64(t.at);
        w.u8(static_cast<std::uint8_t>(t.kind));
        w.i32(t.pile);
        w.u32(t.version);
    }
    for (const std::string& car : im.cars) {
        w.ensure(10);
        w.var(car.size());
        w.bytes(car);
    }
    BillContext bc;
    for (std::size_t i = 0; i < im.bills.size(); ++i) {
        write_bill(w, im.bills[i], i, bc);
    }
    OrderContext oc;
    for (std::size_t i = 0; i < im.orders.size(); ++i) {
        write_order(w, im.orders[i], i, oc, im.bills);
    }
    for (std::size_t k = 0; k < 2 * station::kModeCount; ++k) {
        const auto& list = list_of(im, k);
        w.ensure(4 * list.size());
        for (const station::OrderId id : list) {
            w.i32(id);
        }
    }
    write_positions(w, s.order_pos);
    write_positions(w, s.bill_pos);
}

}  // namespace

std::string encode_snapshot(const Snapshot& s) {
    const StationImage& im = s.station;
    // A typical station takes some 50 bytes per order and bill.
    Writer w(kHeaderSize + 256 + s.app.size() + im.piles.size() * 256 + im.cars.size() * 16 +
             im.orders.size() * 24 + im.bills.size() * 32 + s.order_pos.size() * 2 +
             s.bill_pos.size() * 2);
    w.begin();
    encode_payload(s, w);
    w.finish();
    return w.take();
}

Snapshot decode_snapshot(std::string_view bytes) {
    if (bytes.size() < kHeaderSize + kTrailerSize) {
        malformed("it has " + std::to_string(bytes.size()) + " bytes, fewer than a header");
    }
    if (std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0) {
        malformed("it does not start with the snapshot magic");
    }
    const auto version = static_cast<std::uint32_t>(load_le(bytes.data() + 8, 4));
    if (version != kSnapshotFormatVersion && version != 1) {
        malformed("format version " + std::to_string(version) +
                  ", this build reads versions 1 to " + std::to_string(kSnapshotFormatVersion));
    }
    if (load_le(bytes.data() + 12, 4) != 0) {
        malformed("unknown header flags");
    }
    const std::uint64_t payload = load_le(bytes.data() + 16, 8);
    const std::size_t have = bytes.size() - kHeaderSize - kTrailerSize;
    if (payload != have) {
        malformed("the header announces " + std::to_string(payload) +
                  " payload bytes but the file holds " + std::to_string(have) +
                  (payload > have ? " (truncated)" : ""));
    }
    const std::size_t body = bytes.size() - kTrailerSize;
    const auto stored = static_cast<std::uint32_t>(load_le(bytes.data() + body, 4));
    if (crc32(bytes.substr(0, kHeaderSize), crc32(bytes.substr(kHeaderSize, have))) != stored) {
        malformed("CRC mismatch (the file is damaged)");
    }

    Reader r(bytes.substr(kHeaderSize, have));
    Snapshot s;
    StationImage& im = s.station;
    s.journal_lines = r.i64("the header fields");
    if (s.journal_lines < 0) {
        malformed("a negative journal line count");
    }
    im.profile_digest = r.u64("the header fields");
    im.now = r.i64("the header fields");
    im.record_events = r.flag("the event-recording flag");
    im.counter_day = r.i64("the header fields");
    im.counters[0] = r.u32("the header fields");
    im.counters[1] = r.u32("the header fields");
    im.next_issue_seq = r.i64("the header fields");
    Counts n;
    n.app = r.u64("the counts");
    n.piles = r.u64("the counts");
    n.timers = r.u64("the counts");
    n.cars = r.u64("the counts");
    n.orders = r.u64("the counts");
    n.bills = r.u64("the counts");
    for (std::uint64_t& count : n.lists) {
        count = r.u64("the counts");
    }
    if (version >= 2) {
        n.order_pos = r.u64("the counts");
        n.bill_pos = r.u64("the counts");
    }
    check_counts(n, r.left());

    s.app = std::string(r.bytes(static_cast<std::size_t>(n.app), "the application data"));
    im.piles.resize(static_cast<std::size_t>(n.piles));
    for (station::PileImage& p : im.piles) {
        const std::uint32_t id_size = r.u32("a pile");
        p.id = std::string(r.bytes(id_size, "a pile id"));
        const std::uint8_t flags = r.u8("a pile");
        if (flags > 7) {
            malformed("a pile has unknown flags");
        }
        p.on = (flags & 1U) != 0;
        p.faulty = (flags & 2U) != 0;
        p.session_start = r.i64("a pile");
        p.head_done_at = r.i64("a pile");
        p.finish_at = r.i64("a pile");
        const station::TimeMs until = r.i64("a pile");
        if ((flags & 4U) != 0) {
            p.fault_until = until;
        }
        p.completion_version = r.u32("a pile");
        p.fault_version = r.u32("a pile");
        p.totals.charges = r.i64("a pile");
        p.totals.charging_ms = r.i64("a pile");
        p.totals.kwh = r.f64("a pile");
        p.totals.charge_fee = r.f64("a pile");
        p.totals.service_fee = r.f64("a pile");
        const std::uint32_t queue = r.u32("a pile");
        r.need(std::size_t{4} * queue, "a pile's queue");
        p.queue.resize(queue);
        for (station::OrderId& id : p.queue) {
            id = r.i32("a pile's queue");
        }
    }
    im.timers.resize(static_cast<std::size_t>(n.timers));
    for (station::TimerImage& t : im.timers) {
        t.at = r.i64("a timer");
        t.kind = static_cast<station::TimerKind>(r.u8("a timer"));
        t.pile = r.i32("a timer");
        t.version = r.u32("a timer");
    }
    im.cars.resize(static_cast<std::size_t>(n.cars));
    for (std::string& car : im.cars) {
        const std::uint64_t size = r.var("a car name");
        r.need(size, "a car name");
        car = std::string(r.bytes(static_cast<std::size_t>(size), "a car name"));
    }
    // Room for a quarter more: the restored station goes on adding orders and bills, and
    // memory not yet written costs nothing, whereas growing later copies all of it.
    const auto bill_count = static_cast<std::size_t>(n.bills);
    im.bills.reserve(bill_count + bill_count / 4);
    BillContext bc;
    for (std::size_t i = 0; i < bill_count; ++i) {
        im.bills.push_back(read_bill(r, i, bc));
    }
    const auto order_count = static_cast<std::size_t>(n.orders);
    im.orders.reserve(order_count + order_count / 4);
    OrderContext oc;
    for (std::size_t i = 0; i < order_count; ++i) {
        im.orders.push_back(read_order(r, i, oc, im.bills));
    }
    for (std::size_t k = 0; k < 2 * station::kModeCount; ++k) {
        auto& list = list_of(im, k);
        list.resize(static_cast<std::size_t>(n.lists[k]));
        for (station::OrderId& id : list) {
            id = r.i32("the waiting area or a re-dispatch group");
        }
    }
    read_positions(r, s.order_pos, n.order_pos);
    read_positions(r, s.bill_pos, n.bill_pos);
    if (r.left() != 0) {
        malformed(std::to_string(r.left()) + " bytes after the last section");
    }
    return s;
}

// ---- files -------------------------------------------------------------------------------

namespace {

std::runtime_error io_error(const std::string& what, const std::string& path) {
    return std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    /// Closes now, reporting the error a deferred write may show only here.
    bool close() {
        const int fd = fd_;
        fd_ = -1;
        return ::close(fd) == 0;
    }

  private:
    int fd_;
};

std::string directory_of(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) {
        return ".";
    }
    return slash == 0 ? "/" : path.substr(0, slash);
}

void write_all(int fd, std::string_view data, const std::string& path) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), std::min<std::size_t>(data.size(), 1U << 30));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            throw io_error("cannot write", path);
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

}  // namespace

void write_snapshot_file(const std::string& path, const Snapshot& snapshot) {
    const std::string tmp = path + ".tmp";
    try {
        Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (fd.get() < 0) {
            throw io_error("cannot create", tmp);
        }
        if (::fchmod(fd.get(), 0600) != 0) {  // an older file of that name may be wider
            throw io_error("cannot restrict the mode of", tmp);
        }
        // Each chunk goes to the disk while the next one is encoded: the fsync below then
        // waits for the last few only.
        off_t written = 0;
        Writer w(2 * Writer::kChunk, [&](std::string_view chunk) {
            write_all(fd.get(), chunk, tmp);
            (void)::sync_file_range(fd.get(), written, static_cast<off_t>(chunk.size()),
                                    SYNC_FILE_RANGE_WRITE);  // a hint: errors show at fsync
            written += static_cast<off_t>(chunk.size());
        });
        w.begin();
        encode_payload(snapshot, w);
        const auto header = w.finish();
        if (::pwrite(fd.get(), header.data(), header.size(), 0) !=
            static_cast<ssize_t>(header.size())) {
            throw io_error("cannot write", tmp);
        }
        if (::fsync(fd.get()) != 0) {
            throw io_error("cannot flush", tmp);
        }
        if (!fd.close()) {
            throw io_error("cannot close", tmp);
        }
        if (::rename(tmp.c_str(), path.c_str()) != 0) {
            throw io_error("cannot rename " + tmp + " to", path);
        }
    } catch (...) {
        ::unlink(tmp.c_str());
        throw;
    }
    const std::string dir = directory_of(path);
    Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d.get() < 0 || ::fsync(d.get()) != 0) {
        throw io_error("cannot flush the directory", dir);
    }
}

std::optional<Snapshot> read_snapshot_file(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) {
            return std::nullopt;
        }
        throw io_error("cannot open the snapshot", path);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        throw io_error("cannot read the snapshot", path);
    }
    if (!S_ISREG(st.st_mode)) {
        throw std::runtime_error("the snapshot " + path + " is not a regular file");
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    const auto buf = std::make_unique_for_overwrite<char[]>(size + 1);
    std::size_t done = 0;
    for (;;) {
        // One byte more than the size: a file that grew meanwhile shows as malformed.
        const ssize_t n = ::read(fd.get(), buf.get() + done, size + 1 - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw io_error("cannot read the snapshot", path);
        }
        if (n == 0 || (done += static_cast<std::size_t>(n)) == size + 1) {
            break;
        }
    }
    try {
        return decode_snapshot(std::string_view(buf.get(), done));
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
}

}  // namespace service
